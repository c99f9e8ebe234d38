/*
 * fuzz_config.c - the server's YAML config through config_parse(). The
 * config "lives" in a temporary directory holding a secret file, and a
 * few env: variables are set, so both kinds of secret resolve. While
 * config_parse() runs, open() is interposed and refuses any path outside
 * that directory (file:/dev/..., ~, ..): a FIFO or device somewhere on
 * the host could block the fuzzer, and reading host files is not what is
 * being tested.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "err.h"

static char	 cfgdir[64];
static char	 cfgpath[256];
static bool	 parsing;

/*
 * Replaces libc's open() for the whole program (the executable's symbol
 * wins); outside config_parse() it is a plain openat.
 */
int
open(const char *path, int flags, ...)
{
	va_list	 ap;
	int	 mode = 0;
	size_t	 n = strlen(cfgdir);

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if (parsing && (strncmp(path, cfgdir, n) != 0 || path[n] != '/' ||
	    strstr(path, "/..") != NULL)) {
		errno = EACCES;
		return -1;
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* Removes the secret file and its directory when the fuzzer exits. */
static void
cleanup(void)
{
	char	path[256];

	snprintf(path, sizeof(path), "%s/secret", cfgdir);
	unlink(path);
	rmdir(cfgdir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 dir[] = "/tmp/ferry-fuzz-config.XXXXXX";
	char	 path[256];
	FILE	*f;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(cfgdir, sizeof(cfgdir), "%s", dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("file-secret\n", f);
	fclose(f);
	snprintf(cfgpath, sizeof(cfgpath), "%s/ferry.yml", dir);
	atexit(cleanup);
	setenv("SHOP_HOOK_SECRET", "hook-secret", 1);
	setenv("GITHUB_TOKEN", "gh-token", 1);
	setenv("FERRY_API_TOKEN", "api-token", 1);
	setenv("SHOP_REGISTRY_PASSWORD", "registry", 1);
	setenv("SITE_HOOK_TOKEN", "site-token", 1);
	setenv("EMPTY", "", 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg = NULL;
	size_t		 i;
	int		 rc;

	parsing = true;
	rc = config_parse(&cfg, cfgpath, (const char *)data, size);
	parsing = false;
	if (rc != 0) {
		FUZZ_CHECK(cfg == NULL);
		FUZZ_CHECK(rc == ERR_INVALID || rc == ERR_NOTFOUND);
		FUZZ_CHECK(strlen(err_msg()) > 0);
		return 0;
	}
	FUZZ_CHECK(cfg != NULL);
	FUZZ_CHECK(cfg->workers >= 1 && cfg->max_body > 0);
	for (i = 0; i < cfg->nrepos; i++) {
		const struct config_repo *r = &cfg->repos[i];

		FUZZ_CHECK(r->name != NULL && r->secret != NULL &&
		    r->branch != NULL && r->clone_url != NULL);
		FUZZ_CHECK(config_repo_by_name(cfg, r->name) != NULL);
		FUZZ_CHECK(config_repo_find(cfg, r->provider, r->name) !=
		    NULL);
	}
	config_free(cfg);
	return 0;
}
