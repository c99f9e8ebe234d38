/*
 * fuzz.h - shared by the libFuzzer targets in tests/fuzz/: a checked
 * invariant that aborts (so libFuzzer records the input) and a copy of
 * the input as a NUL-terminated string.
 */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test; abort() lets libFuzzer report. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* data[0..size) as a C string of its own exact allocation. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char	*s = xmalloc(size + 1);

	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Whether s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static inline int
fuzz_utf8_valid(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	unsigned int		 cp;
	size_t			 len, i;

	while (*s != 0) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			len = 2, cp = *s & 0x1f;
		else if ((*s & 0xf0) == 0xe0)
			len = 3, cp = *s & 0x0f;
		else if (*s >= 0xf0 && *s <= 0xf4)
			len = 4, cp = *s & 0x07;
		else
			return 0;
		for (i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return 0;
		s += len;
	}
	return 1;
}

/* Every string of a parsed push is valid UTF-8 (it is stored and shown). */
#define FUZZ_CHECK_PUSH_UTF8(p) do {					\
	FUZZ_CHECK(fuzz_utf8_valid((p)->repo));				\
	FUZZ_CHECK(fuzz_utf8_valid((p)->ref));				\
	FUZZ_CHECK((p)->branch == NULL ||				\
	    fuzz_utf8_valid((p)->branch));				\
	FUZZ_CHECK(fuzz_utf8_valid((p)->before));			\
	FUZZ_CHECK(fuzz_utf8_valid((p)->after));			\
	FUZZ_CHECK(fuzz_utf8_valid((p)->message));			\
	FUZZ_CHECK(fuzz_utf8_valid((p)->author));			\
	FUZZ_CHECK(fuzz_utf8_valid((p)->pusher));			\
	FUZZ_CHECK((p)->compare_url == NULL ||				\
	    fuzz_utf8_valid((p)->compare_url));				\
} while (0)

#endif
