#define LOG_MODULE "log"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum log_level	log_min = LOGL_INFO;

static const char *const log_names[] = {
	[LOGL_DEBUG] = "debug",
	[LOGL_INFO] = "info",
	[LOGL_WARN] = "warn",
	[LOGL_ERROR] = "error",
};

void
log_set_level(enum log_level min)
{
	log_min = min;
}

int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

static void
log_vwrite(enum log_level lvl, const char *module, int with_errno,
    const char *fmt, va_list ap)
{
	char	line[2048], ts[TIME_RFC3339_LEN];
	size_t	n;
	int	saved = errno, w;

	time_format_rfc3339(ts, sizeof(ts), time_now_ms());
	w = snprintf(line, sizeof(line), "%s %s %s: ", ts, log_names[lvl],
	    module);
	n = w > 0 ? (size_t)w : 0;
	if (n < sizeof(line)) {
		w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		n += w > 0 ? (size_t)w : 0;
	}
	if (with_errno && n < sizeof(line)) {
		w = snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(saved));
		n += w > 0 ? (size_t)w : 0;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;	/* truncated: keep the newline */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

void
log_write(enum log_level lvl, const char *module, int with_errno,
    const char *fmt, ...)
{
	va_list	ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, module, with_errno, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *module, int with_errno, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOGL_ERROR, module, with_errno, fmt, ap);
	va_end(ap);
	exit(1);
}
