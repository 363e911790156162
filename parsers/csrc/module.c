/* The extension module is only a container: parsers/native.py loads its functions with ctypes
 * (which releases the GIL around each call), so it defines no Python-level functions. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Machine-code loops of plausible-logs' parsers, called through ctypes (parsers/native.py).",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
