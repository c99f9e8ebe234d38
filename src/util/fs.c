/*
 * fs.c - removing directory trees. Separate from util.c for nftw(),
 * which needs the X/Open feature macro.
 */
#define _XOPEN_SOURCE 700	/* nftw */
#define LOG_MODULE "util"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DNR)
		(void)chmod(path, 0700);
	if (remove(path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s", path);
	return 0;
}

void
remove_tree(const char *path)
{
	if (path == NULL)
		return;
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT)
	    != 0 && errno != ENOENT)
		log_warn("cannot remove %s", path);
}
