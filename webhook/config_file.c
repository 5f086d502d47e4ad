/* config_file.c - the shell around the config loader: read a config file
 * (at most CONFIG_MAX_BYTES) and hand its bytes to the core's
 * config_load_buffer. The only config code that does I/O. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

struct config *
config_load_file(const char *path, struct config_errors *errs)
{
	struct config *cfg = NULL;
	struct stat sb;
	char reason[1024];
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "cannot open: %s",
		    strerror(errno));
		goto fail;
	}
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(reason, sizeof(reason), "cannot read: %s",
		    strerror(EISDIR));
		goto fail;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		goto fail;
	}
	while (len <= CONFIG_MAX_BYTES) {
		r = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(reason, sizeof(reason), "cannot read: %s",
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > CONFIG_MAX_BYTES) {
		snprintf(reason, sizeof(reason), "larger than %d bytes",
		    CONFIG_MAX_BYTES);
		goto fail;
	}
	cfg = config_load_buffer(path, buf, len, errs);
	goto out;
fail:
	config_error_file(path, reason, errs);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return cfg;
}
