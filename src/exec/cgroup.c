/*
 * DESIGN
 *
 * cgroups give what rlimits cannot: a memory limit on the whole step
 * (rlimits are per process), a count of OOM kills to tell the user why
 * the step died, a process limit on the tree and a CPU rate
 * ("cpu: 250m"). They are optional: where none is usable (no cgroupfs,
 * a read-only one, a v2 tree whose controllers cannot be delegated),
 * the sandbox runs on rlimits alone.
 *
 * v2 (/sys/fs/cgroup/cgroup.controllers exists): ferry's groups live in
 * /sys/fs/cgroup/ferry/<task>. Not under ferry's own group: v2 lets a
 * group with processes in it delegate no controller to its children,
 * while the root group is exempt.
 *
 * v1 (one hierarchy per controller): <mount>/<ferry's own group>/ferry/
 * <task> for memory, pids and cpu, so the steps stay inside whatever
 * limits ferry itself runs under.
 */
#define LOG_MODULE "exec"
#include "exec_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CG_FS		"/sys/fs/cgroup"
#define CG_PERIOD_US	100000

static const char *const cg_names[EXEC_CG_NCTL] = {
	[EXEC_CG_MEMORY] = "memory",
	[EXEC_CG_PIDS] = "pids",
	[EXEC_CG_CPU] = "cpu",
};

static int
cg_write(const char *dir, const char *file, const char *val)
{
	char	*path = xasprintf("%s/%s", dir, file);
	size_t	 len = strlen(val);
	ssize_t	 n;
	int	 fd, rc = 0;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		rc = err_set(ERR_FAIL, "cannot open %s: %s", path,
		    strerror(errno));
		goto out;
	}
	n = write(fd, val, len);
	if (n < 0 || (size_t)n != len)
		rc = err_set(ERR_FAIL, "cannot write %s: %s", path,
		    n < 0 ? strerror(errno) : "short write");
	close(fd);
out:
	free(path);
	return rc;
}

/* Whether the space-separated list in file holds word. */
static bool
cg_list_has(const char *path, const char *word)
{
	char	*data, *p, *tok;
	size_t	 wl = strlen(word);
	bool	 found = false;

	if (file_read(&data, NULL, path, 4096) != 0)
		return false;
	for (p = data; *p != '\0' && !found; ) {
		p += strspn(p, " \n");
		tok = p;
		p += strcspn(p, " \n");
		found = (size_t)(p - tok) == wl && memcmp(tok, word, wl) == 0;
	}
	free(data);
	return found;
}

static void
cg_root_v2(struct exec_cg_root *root)
{
	const char	*base = CG_FS "/ferry";
	char		*sub;
	int		 i;
	char		 plus[32];

	if (!cg_list_has(CG_FS "/cgroup.controllers", "memory"))
		return;
	if (mkdir(base, 0755) != 0 && errno != EEXIST) {
		log_debug("no cgroups: cannot create %s: %s", base,
		    strerror(errno));
		return;
	}
	for (i = 0; i < EXEC_CG_NCTL; i++) {
		snprintf(plus, sizeof plus, "+%s", cg_names[i]);
		(void)cg_write(CG_FS, "cgroup.subtree_control", plus);
		(void)cg_write(base, "cgroup.subtree_control", plus);
	}
	sub = xasprintf("%s/cgroup.subtree_control", base);
	for (i = 0; i < EXEC_CG_NCTL; i++)
		root->has[i] = cg_list_has(sub, cg_names[i]);
	free(sub);
	if (!root->has[EXEC_CG_MEMORY]) {
		log_debug("no cgroups: memory controller not delegated to %s",
		    base);
		return;
	}
	root->dir[0] = xstrdup(base);
	root->version = EXEC_CG_V2;
}

/* ferry's own group in a v1 hierarchy holding ctl ("/..."), or NULL. */
static char *
cg_v1_self(const char *ctl)
{
	char	*data, *line, *next, *list, *path, *tok, *end;
	char	*found = NULL;

	if (file_read(&data, NULL, "/proc/self/cgroup", 65536) != 0)
		return NULL;
	for (line = data; line != NULL && found == NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((list = strchr(line, ':')) == NULL)
			continue;
		list++;
		if ((path = strchr(list, ':')) == NULL)
			continue;
		*path++ = '\0';
		for (tok = list; tok != NULL && found == NULL; tok = end) {
			if ((end = strchr(tok, ',')) != NULL)
				*end++ = '\0';
			if (strcmp(tok, ctl) == 0)
				found = xstrdup(path);
		}
	}
	free(data);
	return found;
}

static void
cg_root_v1(struct exec_cg_root *root)
{
	struct stat	 st;
	char		*self, *dir, *probe;
	int		 i;

	for (i = 0; i < EXEC_CG_NCTL; i++) {
		probe = xasprintf(CG_FS "/%s/cgroup.procs", cg_names[i]);
		if (stat(probe, &st) != 0 ||
		    (self = cg_v1_self(cg_names[i])) == NULL) {
			free(probe);
			continue;
		}
		free(probe);
		dir = xasprintf(CG_FS "/%s%s%sferry", cg_names[i], self,
		    strcmp(self, "/") == 0 ? "" : "/");
		free(self);
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			log_debug("no %s cgroup: cannot create %s: %s",
			    cg_names[i], dir, strerror(errno));
			free(dir);
			continue;
		}
		root->dir[i] = dir;
		root->has[i] = true;
	}
	if (root->has[EXEC_CG_MEMORY])
		root->version = EXEC_CG_V1;
	else
		exec_cg_root_dispose(root);
}

void
exec_cg_root_init(struct exec_cg_root *root)
{
	struct stat	st;

	memset(root, 0, sizeof *root);
	if (stat(CG_FS "/cgroup.controllers", &st) == 0)
		cg_root_v2(root);
	else if (stat(CG_FS "/memory/cgroup.procs", &st) == 0)
		cg_root_v1(root);
	if (root->version == EXEC_CG_NONE)
		log_debug("no usable cgroups: steps run on rlimits alone");
}

void
exec_cg_root_dispose(struct exec_cg_root *root)
{
	int	i;

	for (i = 0; i < EXEC_CG_NCTL; i++)
		free(root->dir[i]);
	memset(root, 0, sizeof *root);
}

static int
cg_mkdir(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		return 0;
	/* Left by a ferry that died: empty (its processes died with it). */
	if (errno == EEXIST && rmdir(dir) == 0 && mkdir(dir, 0755) == 0)
		return 0;
	return err_set(ERR_FAIL, "cannot create %s: %s", dir, strerror(errno));
}

static int
cg_limits(struct exec_cg *cg, int64_t memory, int64_t pids,
    int64_t cpu_milli)
{
	char	 val[64];
	int	 rc;

	if (cg->has[EXEC_CG_MEMORY]) {
		const char	*d = cg->version == EXEC_CG_V2 ? cg->dir[0] :
		    cg->dir[EXEC_CG_MEMORY];

		snprintf(val, sizeof val, "%" PRId64, memory);
		if (cg->version == EXEC_CG_V2) {
			if ((rc = cg_write(d, "memory.max", val)) != 0)
				return rc;
			/* No swapping past the limit: the OOM killer acts. */
			(void)cg_write(d, "memory.swap.max", "0");
		} else {
			rc = cg_write(d, "memory.limit_in_bytes", val);
			if (rc != 0)
				return rc;
			(void)cg_write(d, "memory.memsw.limit_in_bytes", val);
		}
	}
	if (cg->has[EXEC_CG_PIDS]) {
		snprintf(val, sizeof val, "%" PRId64, pids);
		if ((rc = cg_write(cg->version == EXEC_CG_V2 ? cg->dir[0] :
		    cg->dir[EXEC_CG_PIDS], "pids.max", val)) != 0)
			return rc;
	}
	if (cg->has[EXEC_CG_CPU]) {
		int64_t	quota = cpu_milli * CG_PERIOD_US / 1000;

		if (quota < 1000)
			quota = 1000;
		if (cg->version == EXEC_CG_V2) {
			snprintf(val, sizeof val, "%" PRId64 " %d", quota,
			    CG_PERIOD_US);
			if ((rc = cg_write(cg->dir[0], "cpu.max", val)) != 0)
				return rc;
		} else {
			snprintf(val, sizeof val, "%d", CG_PERIOD_US);
			if ((rc = cg_write(cg->dir[EXEC_CG_CPU],
			    "cpu.cfs_period_us", val)) != 0)
				return rc;
			snprintf(val, sizeof val, "%" PRId64, quota);
			if ((rc = cg_write(cg->dir[EXEC_CG_CPU],
			    "cpu.cfs_quota_us", val)) != 0)
				return rc;
		}
	}
	return 0;
}

int
exec_cg_create(struct exec_cg *out, const struct exec_cg_root *root,
    const char *name, int64_t memory, int64_t pids, int64_t cpu_milli)
{
	bool	want[EXEC_CG_NCTL];
	int	i, rc;

	memset(out, 0, sizeof *out);
	if (root->version == EXEC_CG_NONE)
		return 0;
	want[EXEC_CG_MEMORY] = root->has[EXEC_CG_MEMORY] && memory > 0;
	want[EXEC_CG_PIDS] = root->has[EXEC_CG_PIDS] && pids > 0;
	want[EXEC_CG_CPU] = root->has[EXEC_CG_CPU] && cpu_milli > 0;
	out->version = root->version;
	if (root->version == EXEC_CG_V2) {
		if (!want[0] && !want[1] && !want[2])
			goto none;
		out->dir[0] = xasprintf("%s/%s", root->dir[0], name);
		if ((rc = cg_mkdir(out->dir[0])) != 0) {
			free(out->dir[0]);
			out->dir[0] = NULL;
			goto fail;
		}
		memcpy(out->has, want, sizeof want);
	} else {
		for (i = 0; i < EXEC_CG_NCTL; i++) {
			if (!want[i])
				continue;
			out->dir[i] = xasprintf("%s/%s", root->dir[i], name);
			if ((rc = cg_mkdir(out->dir[i])) != 0) {
				free(out->dir[i]);
				out->dir[i] = NULL;
				goto fail;
			}
			out->has[i] = true;
		}
	}
	out->memory = want[EXEC_CG_MEMORY] ? memory : 0;
	if ((rc = cg_limits(out, memory, pids, cpu_milli)) != 0)
		goto fail;
	return 0;
fail:
	exec_cg_destroy(out);
	return rc;
none:
	memset(out, 0, sizeof *out);
	return 0;
}

int
exec_cg_attach(const struct exec_cg *cg, pid_t pid)
{
	char	val[32];
	int	i, rc;

	snprintf(val, sizeof val, "%d", (int)pid);
	for (i = 0; i < EXEC_CG_NCTL; i++) {
		if (cg->dir[i] == NULL)
			continue;
		if ((rc = cg_write(cg->dir[i], "cgroup.procs", val)) != 0)
			return rc;
	}
	return 0;
}

int64_t
exec_cg_oom_kills(const struct exec_cg *cg)
{
	char	*path, *data, *p;
	int64_t	 n = 0;

	if (!cg->has[EXEC_CG_MEMORY])
		return 0;
	if (cg->version == EXEC_CG_V2)
		path = xasprintf("%s/memory.events", cg->dir[0]);
	else
		path = xasprintf("%s/memory.oom_control",
		    cg->dir[EXEC_CG_MEMORY]);
	if (file_read(&data, NULL, path, 4096) == 0) {
		for (p = data; (p = strstr(p, "oom_kill ")) != NULL; p++) {
			if (p != data && p[-1] != '\n')
				continue;
			p += sizeof "oom_kill " - 1;
			p[strcspn(p, "\n")] = '\0';
			if (parse_int64(&n, p, 0, INT64_MAX) != 0)
				n = 0;
			break;
		}
		free(data);
	}
	free(path);
	return n;
}

void
exec_cg_destroy(struct exec_cg *cg)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		i, tries;

	for (i = 0; i < EXEC_CG_NCTL; i++) {
		if (cg->dir[i] == NULL)
			continue;
		/* The processes are gone; v1 may take a moment to agree. */
		for (tries = 0; rmdir(cg->dir[i]) != 0 && errno == EBUSY &&
		    tries < 100; tries++)
			nanosleep(&ts, NULL);
		if (access(cg->dir[i], F_OK) == 0)
			log_warn("cannot remove cgroup %s", cg->dir[i]);
		free(cg->dir[i]);
	}
	memset(cg, 0, sizeof *cg);
}
