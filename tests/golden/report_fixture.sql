-- A hand-made site for the report and export tests (run after importer.sinks.schema.TABLES).
-- example.com is in Europe/Berlin (UTC+1 in March 2024). Edges it exercises:
--   s3 starts 2024-03-08 23:30 UTC = 2024-03-09 00:30 Berlin, so it belongs to the 9th;
--   s9 starts 23:50 Berlin on the 9th and its second page view is 00:05 on the 10th (a visit counts on the 10th,
--   the day of its last event, as in Plausible; its first page view on the 9th);
--   s6 starts 23:59:59 Berlin on the 10th (inside a range ending the 10th), s7 at 00:00 on the 11th (outside);
--   visitor 4 has two sessions with different sources and entry pages;
--   s8 has only a 404 custom event (no page view, no entry page); s1 also has a File Download;
--   a page path holding <script> checks escaping.
INSERT INTO sites VALUES ('example.com', 'Europe/Berlin'), ('other.org', 'America/New_York');

INSERT INTO sessions (site, session_id, visitor_id, start, "end", entry_page, exit_page, hostname, pageviews, events,
                      is_bounce, duration, referrer, referrer_source, utm_source, utm_medium, utm_campaign,
                      utm_content, utm_term, device, browser, browser_version, os, os_version, country) VALUES
('example.com', 1, 101, '2024-03-08 09:00:00', '2024-03-08 09:02:00', '/', '/blog', 'example.com', 3, 4,
 false, 120, 'google.com', 'Google', NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Chrome', '122.0', 'Windows', '11', 'DE'),
('example.com', 2, 102, '2024-03-08 12:00:00', '2024-03-08 12:00:00', '/', '/', 'example.com', 1, 1,
 true, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Firefox', '123.0', 'Linux', NULL, NULL),
('example.com', 3, 103, '2024-03-08 23:30:00', '2024-03-08 23:40:00', '/blog', '/pricing', 'example.com', 2, 2,
 false, 600, 't.co/abc', 'Twitter', 'twitter', 'social', 'launch', NULL, NULL, 'Mobile', 'Mobile Safari', '17.3',
 'iOS', '17.3', 'US'),
('example.com', 4, 104, '2024-03-09 10:00:00', '2024-03-09 10:00:00', '/<script>alert(1)</script>',
 '/<script>alert(1)</script>', 'example.com', 1, 1, true, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Desktop',
 'Chrome', '121.0', 'Mac', '14.3', 'FR'),
('example.com', 5, 104, '2024-03-09 15:00:00', '2024-03-09 15:05:00', '/', '/blog', 'example.com', 2, 2,
 false, 300, 'google.com', 'Google', NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Chrome', '121.0', 'Mac', '14.3', 'FR'),
('example.com', 9, 109, '2024-03-09 22:50:00', '2024-03-09 23:05:00', '/', '/blog', 'example.com', 2, 2,
 false, 900, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Firefox', '123.0', 'Linux', NULL, 'NL'),
('example.com', 6, 106, '2024-03-10 22:59:59', '2024-03-10 22:59:59', '/pricing', '/pricing', 'example.com', 1, 1,
 true, 0, 'bing.com', 'Bing', NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Edge', '122.0', 'Windows', '10', 'GB'),
('example.com', 8, 108, '2024-03-10 08:00:00', '2024-03-10 08:00:00', NULL, NULL, 'example.com', 0, 1,
 true, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Mobile', 'Chrome', '122.0', 'Android', '14', 'DE'),
('example.com', 7, 107, '2024-03-10 23:00:00', '2024-03-10 23:00:00', '/', '/', 'example.com', 1, 1,
 true, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Chrome', '122.0', 'Windows', '11', 'DE'),
('other.org', 50, 150, '2024-03-09 15:00:00', '2024-03-09 15:00:00', '/', '/', 'other.org', 1, 1,
 true, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Desktop', 'Chrome', '122.0', 'Windows', '11', 'US');

INSERT INTO events
SELECT s.site, e.ts::TIMESTAMP, e.name, s.hostname, e.path, s.referrer, s.referrer_source, s.utm_source, s.utm_medium,
       s.utm_campaign, s.utm_content, s.utm_term, s.browser, s.browser_version, s.os, s.os_version, s.device,
       s.country, s.visitor_id, s.session_id, e.props::JSON, 1, row_number() OVER (ORDER BY e.ts), NULL
FROM (VALUES
    (1, '2024-03-08 09:00:00', 'pageview', '/', NULL),
    (1, '2024-03-08 09:01:00', 'pageview', '/blog', NULL),
    (1, '2024-03-08 09:01:30', 'File Download', '/blog', '{"url": "https://example.com/file.pdf"}'),
    (1, '2024-03-08 09:02:00', 'pageview', '/blog', NULL),
    (2, '2024-03-08 12:00:00', 'pageview', '/', NULL),
    (3, '2024-03-08 23:30:00', 'pageview', '/blog', NULL),
    (3, '2024-03-08 23:40:00', 'pageview', '/pricing', NULL),
    (4, '2024-03-09 10:00:00', 'pageview', '/<script>alert(1)</script>', NULL),
    (5, '2024-03-09 15:00:00', 'pageview', '/', NULL),
    (5, '2024-03-09 15:05:00', 'pageview', '/blog', NULL),
    (9, '2024-03-09 22:50:00', 'pageview', '/', NULL),
    (9, '2024-03-09 23:05:00', 'pageview', '/blog', NULL),
    (6, '2024-03-10 22:59:59', 'pageview', '/pricing', NULL),
    (8, '2024-03-10 08:00:00', '404', '/missing', '{"path": "/missing"}'),
    (7, '2024-03-10 23:00:00', 'pageview', '/', NULL),
    (50, '2024-03-09 15:00:00', 'pageview', '/', NULL)
) AS e(sid, ts, name, path, props)
JOIN sessions s ON s.session_id = e.sid;
