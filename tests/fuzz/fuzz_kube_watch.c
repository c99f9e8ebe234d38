/*
 * fuzz_kube_watch.c - a watch answer's stream through
 * kube_watch_parse(): byte 0 picks where the stream is cut into pieces
 * (as a transfer delivers it), byte 1 after how many events the
 * callback stops it, the rest is the stream (newline-delimited watch
 * events from an API server, or whatever a broken proxy sends). The
 * callback gets only ADDED, MODIFIED and DELETED events with an
 * object; the result is 0 or the errors kube_watch documents;
 * resource_version stays a C string of its array.
 */
#include "fuzz.h"

#include <cjson/cJSON.h>

#include "err.h"
#include "kube.h"

struct fuzz_seen {
	int	n;
	int	stop_at;
};

static int
fuzz_event(void *arg, const char *type, const cJSON *object)
{
	struct fuzz_seen	*s = arg;

	FUZZ_CHECK(type != NULL);
	FUZZ_CHECK(strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") ==
	    0 || strcmp(type, "DELETED") == 0);
	FUZZ_CHECK(cJSON_IsObject(object));
	return ++s->n == s->stop_at;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_watch	 w;
	struct fuzz_seen	 s = { 0, 0 };
	const char		*pieces[3];
	size_t			 lens[3], cut, len, n = 0;
	int			 rc;

	if (size < 2)
		return 0;
	len = size - 2;
	cut = len * data[0] / 255;
	s.stop_at = data[1] % 8;	/* 0: never */
	pieces[n] = (const char *)data + 2;
	lens[n++] = cut;
	pieces[n] = (const char *)data + 2 + cut;
	lens[n++] = len - cut;
	memset(&w, 0, sizeof(w));
	w.kind = KUBE_POD;
	memcpy(w.resource_version, "7", 2);
	rc = kube_watch_parse(&w, fuzz_event, &s, pieces, lens, n);
	/* The translations of an ERROR event's Status, or a bad stream. */
	FUZZ_CHECK(rc == 0 || rc == ERR_UPSTREAM || rc == ERR_TOOBIG ||
	    rc == ERR_NOTFOUND || rc == ERR_AUTH || rc == ERR_INVALID ||
	    rc == ERR_EXISTS);
	FUZZ_CHECK(memchr(w.resource_version, '\0',
	    sizeof(w.resource_version)) != NULL);
	FUZZ_CHECK(!w.gone || w.resource_version[0] == '\0');
	FUZZ_CHECK(s.stop_at == 0 || s.n <= s.stop_at);
	return 0;
}
