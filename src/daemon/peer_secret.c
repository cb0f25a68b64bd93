/* peer_secret.c - reading and making the peer secret (peer_secret.h). */
#include "peer_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "errmsg.h"
#include "peer_auth.h"

#define SECRET_BYTES 32

static const char *how_to_make(void)
{
    return "make one with \"raftd --new-secret FILE\" on one machine and "
           "copy it to the same path on every member (scp -p keeps its mode "
           "600), or set peer_auth = \"none\"; to run without peer "
           "authentication (anyone who reaches the port can then disrupt "
           "the cluster)";
}

/* The credential systemd passed for file: its path in buf, or NULL if file
 * is not one that comes as a credential. The unit loads every file of
 * RAFTD_PRIVATE_DIR as "raftd_<name>"; *missing says there was none for
 * this one (so the file does not exist, or the unit does not pass it). */
static const char *credential_path(const char *file, char *buf, size_t len,
                                   bool *missing)
{
    *missing = false;
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    const char *slash = strrchr(file, '/');
    size_t plen = strlen(RAFTD_PRIVATE_DIR);
    if (!dir || !*dir || !slash || (size_t)(slash - file) != plen ||
        strncmp(file, RAFTD_PRIVATE_DIR, plen) != 0)
        return NULL;
    snprintf(buf, len, "%s/" PEER_SECRET_CREDENTIAL_PREFIX "%s", dir,
             slash + 1);
    *missing = access(buf, F_OK) != 0;
    return *missing ? NULL : buf;
}

char *private_file_read(const char *file, size_t max, size_t *len,
                        bool secret, struct private_file *pf)
{
    bool missing;
    pf->from_credential =
        credential_path(file, pf->path, sizeof(pf->path), &missing) != NULL;
    if (!pf->from_credential)
        snprintf(pf->path, sizeof(pf->path), "%s", file);
    if (missing) { /* systemd passed every file there, not this one */
        errno = ENOENT;
        return NULL;
    }
    int fd = open(pf->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    else if (secret && !pf->from_credential && (st.st_mode & S_IROTH))
        e = EPERM;
    else if ((uint64_t)st.st_size > max)
        e = EFBIG;
    else if (!(buf = malloc(max + 1)))
        e = ENOMEM;
    ssize_t n = e ? -1 : read(fd, buf, max + 1);
    if (!e && n < 0)
        e = errno;
    else if (!e && (size_t)n > max)
        e = EFBIG;
    close(fd);
    if (e) {
        if (buf)
            explicit_bzero(buf, max + 1);
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

int peer_secret_load(struct raftd_config *cfg, char *err, size_t errlen)
{
    if (!cfg->peer_auth)
        return 0;
    struct private_file pf;
    size_t n = 0;
    char *buf = private_file_read(cfg->peer_secret_file, 1023, &n, true, &pf);
    const char *path = pf.path;
    if (!buf && errno == ENOENT)
        return errmsg(err, errlen, "%s:%d: peer_auth is \"hmac\" but the peer "
                      "secret %s does not exist: %s (FILE: %s)", cfg->path,
                      cfg->src.peer_secret_file ? cfg->src.peer_secret_file
                                                : cfg->src.last_line,
                      path, how_to_make(), path);
    if (!buf && errno == EINVAL)
        return errmsg(err, errlen, "the peer secret %s is not a regular file",
                      path);
    if (!buf && errno == EPERM)
        return errmsg(err, errlen, "the peer secret %s can be read by every "
                      "user of this machine: chmod 600 %s (and make a new "
                      "secret if others may have read it)", path, path);
    if (!buf && errno == EFBIG)
        return errmsg(err, errlen, "the peer secret %s is not valid: it is "
                      "too long", path);
    if (!buf)
        return errmsg(err, errlen, "cannot read the peer secret %s: %s%s", path,
                      strerror(errno),
                      errno == EACCES ? " (the systemd unit passes the files "
                      "of " RAFTD_PRIVATE_DIR " to raftd as credentials; "
                      "keep the secret there, or run raftd as a user who "
                      "may read it)"
                                      : "");
    const char *why = NULL;
    int len = peer_auth_parse_secret(buf, n, cfg->peer_secret, &why);
    explicit_bzero(buf, n);
    free(buf);
    if (len < 0)
        return errmsg(err, errlen, "the peer secret %s is not valid: %s", path,
                      why ? why : "it is too long");
    cfg->peer_secret_len = (size_t)len;
    free(cfg->peer_secret_source);
    cfg->peer_secret_source = strdup(path);
    return 0;
}

int peer_secret_create(const char *path, char *err, size_t errlen)
{
    uint8_t key[SECRET_BYTES];
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return errmsg(err, errlen, "getrandom failed: %s", strerror(errno));
    char text[2 * SECRET_BYTES + 2];
    for (size_t i = 0; i < SECRET_BYTES; i++)
        snprintf(text + 2 * i, 3, "%02x", key[i]);
    text[2 * SECRET_BYTES] = '\n';
    text[2 * SECRET_BYTES + 1] = 0;
    explicit_bzero(key, sizeof(key));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        explicit_bzero(text, sizeof(text));
        return errmsg(err, errlen, "cannot create %s: %s%s", path, strerror(e),
                      e == EEXIST ? " (an existing secret is never "
                      "overwritten: remove it first if you mean to replace "
                      "it, then restart every member with the new one)"
                                  : "");
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    explicit_bzero(text, sizeof(text));
    if (close(fd) < 0 || !ok) {
        unlink(path);
        return errmsg(err, errlen, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}
