/*
 * badge.c - GET /badge/{owner}/{name}.svg: a small SVG saying how the
 * repository's production branch stands, for READMEs.
 *
 * The badge shows the latest production-branch run (the one GET
 * /api/v1/repos reports): "passing" (succeeded), "failing" (failed),
 * "running" (queued or running), "error" (the infrastructure failed),
 * "cancelled", or "unknown" when there is no run yet. A repository that
 * is not configured gets the "unknown" badge with status 404, so an
 * <img> still draws something while scripts and monitors see that the
 * name is wrong. Badges must never be cached (a proxy such as GitHub's
 * camo would pin an old status): Cache-Control: no-cache, no-store.
 * The words come from this table only; nothing from the request or
 * the database is written into the SVG.
 */
#define LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "config.h"
#include "log.h"
#include "util.h"

struct badge_style {
	const char	*text;
	const char	*color;	/* dark enough for white text */
	int		 width;	/* of the text's box, Verdana 11px */
};

enum badge_kind {
	BADGE_PASSING,
	BADGE_FAILING,
	BADGE_RUNNING,
	BADGE_ERROR,
	BADGE_CANCELLED,
	BADGE_UNKNOWN,
};

static const struct badge_style badge_styles[] = {
	[BADGE_PASSING] = { "passing", "#2e7d32", 53 },
	[BADGE_FAILING] = { "failing", "#c62828", 45 },
	[BADGE_RUNNING] = { "running", "#1565c0", 55 },
	[BADGE_ERROR] = { "error", "#b71c1c", 39 },
	[BADGE_CANCELLED] = { "cancelled", "#616161", 65 },
	[BADGE_UNKNOWN] = { "unknown", "#616161", 61 },
};

#define BADGE_LABEL		"ferry"
#define BADGE_LABEL_WIDTH	39

static enum badge_kind
badge_kind_of(const struct run *run)
{
	if (run == NULL)
		return BADGE_UNKNOWN;
	switch (run->status) {
	case RUN_QUEUED:
	case RUN_RUNNING:
		return BADGE_RUNNING;
	case RUN_SUCCEEDED:
		return BADGE_PASSING;
	case RUN_FAILED:
		return BADGE_FAILING;
	case RUN_CANCELLED:
		return BADGE_CANCELLED;
	case RUN_ERROR:
		return BADGE_ERROR;
	}
	return BADGE_UNKNOWN;
}

/* The SVG for kind; the caller frees. */
static char *
badge_svg(enum badge_kind kind)
{
	const struct badge_style	*s = &badge_styles[kind];
	int				 lw = BADGE_LABEL_WIDTH, w;

	w = lw + s->width;
	return xasprintf(
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"20\" role=\"img\" aria-label=\"%s: %s\">"
	    "<title>%s: %s</title>"
	    "<linearGradient id=\"s\" x2=\"0\" y2=\"100%%\">"
	    "<stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>"
	    "<stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>"
	    "<clipPath id=\"r\"><rect width=\"%d\" height=\"20\" rx=\"3\" "
	    "fill=\"#fff\"/></clipPath>"
	    "<g clip-path=\"url(#r)\">"
	    "<rect width=\"%d\" height=\"20\" fill=\"#555\"/>"
	    "<rect x=\"%d\" width=\"%d\" height=\"20\" fill=\"%s\"/>"
	    "<rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/></g>"
	    "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,"
	    "Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">"
	    "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">"
	    "%s</text><text x=\"%d\" y=\"14\">%s</text>"
	    "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">"
	    "%s</text><text x=\"%d\" y=\"14\">%s</text></g></svg>\n",
	    w, BADGE_LABEL, s->text, BADGE_LABEL, s->text, w, lw, lw,
	    s->width, s->color, w, lw / 2, BADGE_LABEL, lw / 2, BADGE_LABEL,
	    lw + s->width / 2, s->text, lw + s->width / 2, s->text);
}

static void
badge_reply(struct http_req *req, int status, enum badge_kind kind)
{
	char	*svg = badge_svg(kind);

	http_reply_header(req, "Cache-Control",
	    "no-cache, no-store, must-revalidate, max-age=0");
	http_reply_header(req, "Expires", "0");
	http_reply_header(req, "Content-Security-Policy",
	    "default-src 'none'; frame-ancestors 'none'");
	http_reply_header(req, "Referrer-Policy", "no-referrer");
	http_reply_take(req, status, "image/svg+xml", svg, strlen(svg));
}

void
api_badge(struct http_req *req, void *arg)
{
	struct api			*api = arg;
	const struct config_repo	*repo;
	struct store			*st;
	struct repo_summary		*v;
	enum badge_kind			 kind = BADGE_UNKNOWN;
	const char			*file = http_req_param(req, 1);
	char				*name;
	size_t				 len, n, i;
	int				 rc;

	len = strlen(file);
	if (len <= 4 || strcmp(file + len - 4, ".svg") != 0) {
		http_reply_error(req, 404, "not_found",
		    "badges are at /badge/{owner}/{name}.svg");
		return;
	}
	name = xasprintf("%s/%.*s", http_req_param(req, 0), (int)(len - 4),
	    file);
	repo = config_repo_by_name(api->cfg, name);
	if (repo == NULL) {
		free(name);
		badge_reply(req, 404, BADGE_UNKNOWN);
		return;
	}
	if (api_store(&st, api, req) != 0) {
		free(name);
		return;
	}
	if ((rc = store_repo_list(&v, &n, st)) != 0) {
		free(name);
		api_reply_err(req, rc);
		return;
	}
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, repo->name) == 0)
			kind = badge_kind_of(v[i].last);
	repo_summaries_free(v, n);
	free(name);
	badge_reply(req, 200, kind);
}
