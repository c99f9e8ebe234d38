/*
 * static.c - GET / and GET /static/{path}: the status page (static/), plain
 * HTML, CSS and JavaScript embedded in the binary at build time.
 *
 * DESIGN
 *
 * src/api/embed_static.py turns every file listed in src/api/meson.build
 * into an entry of static_files[] with its content type, a strong ETag
 * (a hash of the bytes) and a Last-Modified date, so ferry is one binary
 * with nothing to find on disk at run time. Serving is a lookup by exact
 * name: a path that is not one of the embedded files is a 404, so no
 * request can reach a file outside static/ (the router already refuses
 * "." and ".." segments, encoded or not, and encoded slashes; the name
 * check below refuses them again in case a route changes).
 *
 * Every response carries the page's Content-Security-Policy (no inline
 * script or style, same-origin connections only, data: images for the
 * favicon the page draws), Referrer-Policy and, from the http module,
 * X-Content-Type-Options: nosniff. Files are revalidated (no-cache): a
 * matching If-None-Match, or an If-Modified-Since equal to the
 * Last-Modified sent (exact match, as nginx does by default), gets 304.
 */
#define LOG_MODULE "api"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "log.h"
#include "static_files.h"

#define STATIC_CSP \
	"default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; " \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static int
static_cmp(const void *key, const void *elem)
{
	const struct static_file	*f = elem;

	return strcmp(key, f->path);
}

static const struct static_file *
static_find(const char *name)
{
	return bsearch(name, static_files, static_nfiles,
	    sizeof(static_files[0]), static_cmp);
}

/* A name made of plain segments only: no "", ".", ".." or backslash. */
static bool
static_name_ok(const char *name)
{
	const char	*seg, *end;
	size_t		 n;

	if (*name == '\0' || strchr(name, '\\') != NULL)
		return false;
	for (seg = name;; seg = end + 1) {
		end = strchr(seg, '/');
		n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (end == NULL)
			return true;
	}
}

/* True if the If-None-Match list names etag (weak comparison) or "*". */
static bool
etag_listed(const char *list, const char *etag)
{
	const char	*p = list, *q;
	size_t		 elen = strlen(etag), n;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return false;
		if ((q = strchr(p + 1, '"')) == NULL)
			return false;
		n = (size_t)(q - p) + 1;
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

static bool
not_modified(const struct http_req *req, const struct static_file *f)
{
	const char	*v;

	if ((v = http_req_header(req, "If-None-Match")) != NULL)
		return etag_listed(v, f->etag);
	if ((v = http_req_header(req, "If-Modified-Since")) != NULL)
		return strcmp(v, f->last_modified) == 0;
	return false;
}

void
api_static(struct http_req *req, void *arg)
{
	const struct static_file	*f = NULL;
	const char			*name;

	(void)arg;
	name = http_req_param(req, 0);
	if (name == NULL)		/* GET / */
		name = "index.html";
	if (static_name_ok(name))
		f = static_find(name);
	http_reply_header(req, "Content-Security-Policy", STATIC_CSP);
	http_reply_header(req, "Referrer-Policy", "no-referrer");
	http_reply_header(req, "X-Frame-Options", "DENY");
	if (f == NULL) {
		http_reply_error(req, 404, "not_found", "no such file");
		return;
	}
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply_header(req, "ETag", f->etag);
	http_reply_header(req, "Last-Modified", f->last_modified);
	if (not_modified(req, f)) {
		http_reply(req, 304, NULL, NULL, 0);
		return;
	}
	http_reply(req, 200, f->ctype, f->data, f->len);
}
