/* metrics.c: being written (issue 6); answers 501 until then. */
#include "api_int.h"

void
api_metrics(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply_error(req, 501, "not_implemented", "not implemented yet");
}
