#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ERR_MSG_MAX	512

static _Thread_local char	err_buf[ERR_MSG_MAX];

int
err_set(int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return code;
}

const char *
err_msg(void)
{
	return err_buf;
}

void
err_clear(void)
{
	err_buf[0] = '\0';
}

const char *
err_name(int code)
{
	switch ((enum err)code) {
	case ERR_FAIL:		return "fail";
	case ERR_INVALID:	return "invalid";
	case ERR_AUTH:		return "auth";
	case ERR_NOTFOUND:	return "not_found";
	case ERR_EXISTS:	return "exists";
	case ERR_TOOBIG:	return "too_big";
	case ERR_BUSY:		return "busy";
	case ERR_UPSTREAM:	return "upstream";
	}
	return code == 0 ? "ok" : "unknown";
}

void
assert_fail(const char *expr, const char *file, int line)
{
	char	msg[512];
	int	n;

	n = snprintf(msg, sizeof(msg), "assertion failed: %s at %s:%d\n",
	    expr, file, line);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg,
		    (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}
