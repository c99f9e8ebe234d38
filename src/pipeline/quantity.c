/*
 * Kubernetes resource quantities, the subset pipelines use: CPU in cores
 * ("0.5", "2") or millicores ("250m"), memory in bytes with a decimal
 * (k, M, G, T, P, E) or binary (Ki ... Ei) suffix. Integer arithmetic
 * only, so "0.3k" is 300 and never 300.00000000000006.
 */
#include "pipeline.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define CPU_MAX_MILLI	(1000000LL * 1000)	/* a million cores */
#define FRAC_MAX_DIGITS	9

/*
 * Splits "12.345rest" into whole 12, frac 345, fdigits 3 and *rest.
 * 0, or -1 when there is no leading digit or a number is too long.
 */
static int
decimal_split(int64_t *whole, int64_t *frac, int *fdigits,
    const char **rest, const char *s)
{
	const char	*p = s;

	*whole = *frac = 0;
	*fdigits = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (*whole > INT64_MAX / 10 - 10)
			return -1;
		*whole = *whole * 10 + (*p++ - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (*fdigits == FRAC_MAX_DIGITS)
				return -1;
			*frac = *frac * 10 + (*p++ - '0');
			(*fdigits)++;
		}
	}
	*rest = p;
	return 0;
}

static int64_t
pow10_i64(int n)
{
	int64_t	v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

int
pipeline_cpu_parse(int64_t *out, const char *s)
{
	const char	*rest;
	int64_t		 whole, frac, scale, v;
	int		 fd;

	*out = 0;
	if (s == NULL || decimal_split(&whole, &frac, &fd, &rest, s) != 0)
		goto bad;
	if (strcmp(rest, "m") == 0) {
		if (fd != 0)
			goto bad;	/* "0.5m": below a millicore */
		v = whole;
	} else if (*rest == '\0') {
		/* Cores: at most three significant fraction digits. */
		while (fd > 3 && frac % 10 == 0) {
			frac /= 10;
			fd--;
		}
		if (fd > 3 || whole > CPU_MAX_MILLI / 1000)
			goto bad;
		scale = pow10_i64(3 - fd);
		v = whole * 1000 + frac * scale;
	} else
		goto bad;
	if (v <= 0 || v > CPU_MAX_MILLI)
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(ERR_INVALID, "invalid cpu quantity \"%.32s\"",
	    s ? s : "");
}

static const struct {
	const char	*suffix;
	int64_t		 mult;
} memory_units[] = {
	{ "Ei", 1LL << 60 }, { "Pi", 1LL << 50 }, { "Ti", 1LL << 40 },
	{ "Gi", 1LL << 30 }, { "Mi", 1LL << 20 }, { "Ki", 1LL << 10 },
	{ "E", 1000000000000000000LL }, { "P", 1000000000000000LL },
	{ "T", 1000000000000LL }, { "G", 1000000000LL }, { "M", 1000000LL },
	{ "k", 1000LL },
	{ "", 1 },
};

int
pipeline_memory_parse(int64_t *out, const char *s)
{
	const char	*rest;
	int64_t		 whole, frac, mult = 0, p10, q, r, fbytes;
	int		 fd;
	size_t		 i;

	*out = 0;
	if (s == NULL || decimal_split(&whole, &frac, &fd, &rest, s) != 0)
		goto bad;
	for (i = 0; i < sizeof(memory_units) / sizeof(memory_units[0]); i++)
		if (strcmp(rest, memory_units[i].suffix) == 0) {
			mult = memory_units[i].mult;
			break;
		}
	if (mult == 0)
		goto bad;
	/*
	 * ceil(frac * mult / 10^fd) without overflow: with mult = q*p10 + r,
	 * frac*q < mult and frac*r < 10^18.
	 */
	p10 = pow10_i64(fd);
	q = mult / p10;
	r = mult % p10;
	fbytes = frac * q + (frac * r + p10 - 1) / p10;
	if (whole > (INT64_MAX - fbytes) / mult)
		goto bad;
	if (whole * mult + fbytes <= 0)
		goto bad;
	*out = whole * mult + fbytes;
	return 0;
bad:
	return err_set(ERR_INVALID, "invalid memory quantity \"%.32s\"",
	    s ? s : "");
}

void
pipeline_cpu_format(char *out, size_t outsz, int64_t milli)
{
	if (milli % 1000 == 0)
		snprintf(out, outsz, "%" PRId64, milli / 1000);
	else
		snprintf(out, outsz, "%" PRId64 "m", milli);
}

void
pipeline_memory_format(char *out, size_t outsz, int64_t bytes)
{
	size_t	i;

	for (i = 0; i < sizeof(memory_units) / sizeof(memory_units[0]); i++)
		if (bytes != 0 && bytes % memory_units[i].mult == 0) {
			snprintf(out, outsz, "%" PRId64 "%s",
			    bytes / memory_units[i].mult,
			    memory_units[i].suffix);
			return;
		}
	snprintf(out, outsz, "%" PRId64, bytes);
}
