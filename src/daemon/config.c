/* config.c - load and check /etc/raftd.conf (see config.h, raftd.conf(5)). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <libconfig.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <syslog.h>

#define MAX_ID ((int64_t)INT32_MAX)

/* ---- errors ------------------------------------------------------------ */

static void seterr(char *err, size_t errlen, const char *file, int line,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void seterr(char *err, size_t errlen, const char *file, int line,
                   const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n;
    if (!file)
        file = "(config)";
    if (line > 0)
        n = snprintf(err, errlen, "%s:%d: ", file, line);
    else
        n = snprintf(err, errlen, "%s: ", file);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static const char *setting_file(const struct raftd_config *cfg,
                                const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : cfg->path;
}

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group { ... }";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a floating-point number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
    case CONFIG_TYPE_LIST: return "a list ( ... )";
    default: return "an unknown type";
    }
}

/* ---- small parsers ----------------------------------------------------- */

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static bool host_chars_ok(const char *h, size_t len, bool v6)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (v6) {
            if (!isxdigit(c) && c != ':' && c != '.' && c != '%' &&
                !isalnum(c))
                return false;
        } else if (!isalnum(c) && c != '.' && c != '-' && c != '_') {
            return false;
        }
    }
    return true;
}

/* Parse "host:port" or "[v6]:port" (exactly len bytes).  On success *host
 * is malloc'd (brackets removed).  On failure returns -1 and why says
 * what is wrong. */
static int parse_hostport(const char *s, size_t len, char **host,
                          uint16_t *port, const char **why)
{
    const char *h, *p;
    size_t hlen;
    bool v6 = false;

    if (len == 0) {
        *why = "it is empty";
        return -1;
    }
    if (memchr(s, '@', len)) {
        *why = "user names (user@host) are not supported";
        return -1;
    }
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            *why = "the IPv6 address has no closing ']'";
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close + 1 >= s + len || close[1] != ':') {
            *why = "the port is missing (write [address]:port)";
            return -1;
        }
        p = close + 2;
        v6 = true;
    } else {
        const char *colon = NULL;
        for (const char *c = s; c < s + len; c++)
            if (*c == ':')
                colon = c;
        if (!colon) {
            *why = "the port is missing (write host:port)";
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            *why = "IPv6 addresses must be written in brackets, "
                   "e.g. [2001:db8::1]:7001";
            return -1;
        }
        h = s;
        hlen = (size_t)(colon - s);
        p = colon + 1;
    }
    if (!host_chars_ok(h, hlen, v6)) {
        *why = hlen ? "the host name contains invalid characters"
                    : "the host is missing";
        return -1;
    }
    if (parse_port(p, (size_t)(s + len - p), port) < 0) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    *host = strndup(h, hlen);
    if (!*host) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/* Parse "http://host:port" or "https://host:port" with an optional
 * trailing "/". *norm keeps the scheme, in lower case. */
static int parse_url(const char *url, char **norm, char **host,
                     uint16_t *port, bool *https, const char **why)
{
    *https = strncasecmp(url, "https://", 8) == 0;
    const char *scheme = *https ? "https://" : "http://";
    size_t slen = strlen(scheme);
    if (!*https && strncasecmp(url, scheme, slen) != 0) {
        *why = "it must start with http:// or https:// (e.g. "
               "\"http://192.0.2.1:7001\")";
        return -1;
    }
    const char *auth = url + slen;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (!(rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0'))) {
        *why = "it must be just http://host:port or https://host:port, "
               "without a path";
        return -1;
    }
    if (parse_hostport(auth, alen, host, port, why) < 0)
        return -1;
    size_t n = slen + alen;
    *norm = malloc(n + 1);
    if (!*norm) {
        free(*host);
        *host = NULL;
        *why = "out of memory";
        return -1;
    }
    memcpy(*norm, scheme, slen);
    memcpy(*norm + slen, auth, alen);
    (*norm)[n] = '\0';
    return 0;
}

int config_normalize_url(const char *url, char *norm, size_t len, char *why,
                         size_t whylen)
{
    char *n = NULL, *host = NULL;
    uint16_t port;
    bool https;
    const char *w = NULL;
    int rv = parse_url(url, &n, &host, &port, &https, &w);
    if (rv == 0 && strlen(n) >= len) {
        w = "it is too long";
        rv = -1;
    }
    if (rv == 0)
        snprintf(norm, len, "%s", n);
    else
        snprintf(why, whylen, "the url \"%s\" is not valid: %s", url, w);
    free(n);
    free(host);
    return rv;
}

/* ---- log levels -------------------------------------------------------- */

static const struct {
    const char *name;
    int level;
} levels[] = {
    {"error", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
    {"info", LOG_INFO},   {"debug", LOG_DEBUG},
};

int config_parse_log_level(const char *name)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcasecmp(name, levels[i].name) == 0)
            return levels[i].level;
    return -1;
}

const char *config_log_level_name(int level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].level == level)
            return levels[i].name;
    return level < LOG_ERR ? "error" : "debug";
}

/* ---- defaults and lifetime --------------------------------------------- */

static void free_members(struct raftd_config *cfg)
{
    for (unsigned i = 0; i < cfg->n_members; i++) {
        free(cfg->members[i].url);
        free(cfg->members[i].host);
    }
    memset(cfg->members, 0, sizeof cfg->members);
    cfg->n_members = 0;
}

void config_defaults(struct raftd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = strdup(RAFTD_DEFAULT_DATA_DIR);
    cfg->heartbeat_ms = 100;
    cfg->election_timeout_min_ms = 1000;
    cfg->election_timeout_max_ms = 2000;
    cfg->rpc_timeout_ms = 500;
    cfg->request_timeout_ms = 5000;
    cfg->prevote = true;
    cfg->check_quorum = true;
    cfg->log_level = LOG_INFO;
    cfg->max_request_bytes = 8u << 20;
    cfg->max_connections = 1024;
    cfg->snapshot_entries = 5000;
    cfg->snapshot_keep_entries = 5000;
    cfg->max_snapshot_bytes = (size_t)1 << 30;
    cfg->wal_segment_bytes = (size_t)64 << 20;
    cfg->peer_auth = true;
    cfg->peer_secret_file = strdup(RAFTD_DEFAULT_PEER_SECRET);
}

void config_free(struct raftd_config *cfg)
{
    free_members(cfg);
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->data_dir);
    free(cfg->peer_secret_file);
    free(cfg->peer_secret_source);
    explicit_bzero(cfg->peer_secret, sizeof cfg->peer_secret);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->tls_ca_file);
    config_tls_files_free(&cfg->tls);
    memset(cfg, 0, sizeof *cfg);
}

void config_tls_files_free(struct raftd_tls_files *f)
{
    if (f->key_pem)
        explicit_bzero(f->key_pem, strlen(f->key_pem));
    free(f->cert_pem);
    free(f->key_pem);
    free(f->ca_pem);
    free(f->key_source);
    memset(f, 0, sizeof *f);
}

int config_set_data_dir(struct raftd_config *cfg, const char *dir)
{
    char *d = strdup(dir);
    if (!d)
        return -1;
    free(cfg->data_dir);
    cfg->data_dir = d;
    cfg->src.data_dir = 0;
    return 0;
}

const struct raftd_member *config_member(const struct raftd_config *cfg,
                                         raft_id id)
{
    for (unsigned i = 0; i < cfg->n_members; i++)
        if (cfg->members[i].id == id)
            return &cfg->members[i];
    return NULL;
}

/* ---- loading ----------------------------------------------------------- */

struct loader {
    struct raftd_config *cfg;
    char *err;
    size_t errlen;
};

#define FAIL_AT(L, s, ...)                                                  \
    do {                                                                    \
        seterr((L)->err, (L)->errlen, setting_file((L)->cfg, (s)),          \
               (s) ? config_setting_source_line(s) : 0, __VA_ARGS__);       \
        return -1;                                                          \
    } while (0)

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* ---- integers as written ------------------------------------------------ */

/* libconfig 1.5 reads an integer without an L suffix with atoi(): a number
 * beyond 32 bits wraps around (4294967297 reads as 1, 3000000000 as
 * -1294967296) and its setting still looks like a valid int. So the range
 * of every integer setting is checked on the number as written, found
 * again on the setting's line of its file. */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* The value text after "name =" or "name:" at p (which starts the name),
 * into out; false if p is not such an assignment. */
static bool assignment_value(const char *line, const char *p, size_t nl,
                             char *out, size_t outlen)
{
    if ((p > line && name_char(p[-1])) || name_char(p[nl]))
        return false;
    p += nl;
    p += strspn(p, " \t");
    if (*p != '=' && *p != ':')
        return false;
    p++;
    p += strspn(p, " \t");
    size_t n = strspn(p, "+-0123456789abcdefABCDEFxXlL");
    if (n == 0 || n >= outlen)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* The value texts of name's assignments on one line, outside strings and
 * comments; calls found(text) for each until it returns true. */
static bool scan_line(const char *line, const char *name,
                      bool (*found)(const char *text, void *arg), void *arg)
{
    size_t nl = strlen(name);
    char text[64];
    for (const char *p = line; *p; p++) {
        if (*p == '#' || (p[0] == '/' && p[1] == '/'))
            break;
        if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                break;
            p = end + 1;
        } else if (*p == '"') {
            while (p[1] && p[1] != '"')
                p += p[1] == '\\' && p[2] ? 2 : 1;
            if (!p[1])
                break;
            p++;
        } else if (strncmp(p, name, nl) == 0 &&
                   assignment_value(line, p, nl, text, sizeof text) &&
                   found(text, arg)) {
            return true;
        }
    }
    return false;
}

/* Parse an integer literal as libconfig writes them (decimal or 0x hex,
 * optional sign, optional L or LL); false if it does not fit 64 bits. */
static bool parse_literal(const char *text, int64_t *v)
{
    char *end;
    bool neg = text[0] == '-';
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    errno = 0;
    uint64_t u = strtoull(hex ? digits + 2 : digits, &end, hex ? 16 : 10);
    if (errno || end == digits || !isdigit((unsigned char)digits[0]) ||
        strspn(end, "lL") != strlen(end) || strlen(end) > 2)
        return false;
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
        return false;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

struct written {
    int64_t parsed;  /* libconfig's value */
    char text[64];   /* the first text found; one that is not what
                        libconfig read wins */
    bool any;
};

static bool note_written(const char *text, void *arg)
{
    struct written *w = arg;
    int64_t v;
    bool differs = !parse_literal(text, &v) || v != w->parsed;
    if (!w->any || differs)
        snprintf(w->text, sizeof w->text, "%s", text);
    w->any = true;
    return differs;
}

/* How setting s (libconfig read it as parsed) is written in its file:
 * true and the text in w->text, or false if it cannot be found. */
static bool find_written(const struct raftd_config *cfg,
                         const config_setting_t *s, const char *name,
                         struct written *w)
{
    const char *file = setting_file(cfg, s);
    int want = config_setting_source_line(s);
    FILE *f = file && want > 0 ? fopen(file, "re") : NULL;
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    for (int no = 1; getline(&line, &cap, f) >= 0; no++)
        if (no == want) {
            scan_line(line, name, note_written, w);
            break;
        }
    free(line);
    fclose(f);
    return w->any;
}

static int get_int(struct loader *L, const config_setting_t *s,
                   const char *name, int64_t min, int64_t max,
                   const char *unit, int64_t example, int64_t *out)
{
    if (!is_int(s))
        FAIL_AT(L, s, "'%s' must be an integer%s%s%s (e.g. %s = %" PRId64
                ";), not %s", name, *unit ? " (" : "", unit, *unit ? ")" : "",
                name, example,
                type_name(config_setting_type(s)));
    struct written w = {.parsed = config_setting_get_int64(s)};
    int64_t v = w.parsed;
    bool as_written = find_written(L->cfg, s, name, &w);
    bool fits = !as_written || parse_literal(w.text, &v);
    if (!as_written)
        snprintf(w.text, sizeof w.text, "%" PRId64, v);
    if (!fits || v < min || v > max)
        FAIL_AT(L, s, "%s must be between %" PRId64 " and %" PRId64 "%s%s, "
                "not %s", name, min, max, *unit ? " " : "", unit, w.text);
    *out = v;
    return 0;
}

static int get_string(struct loader *L, const config_setting_t *s,
                      const char *name, const char *example,
                      const char **out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        FAIL_AT(L, s, "'%s' must be a string in double quotes "
                "(e.g. %s = \"%s\";), not %s", name, name, example,
                type_name(config_setting_type(s)));
    *out = config_setting_get_string(s);
    if (!*out || !**out)
        FAIL_AT(L, s, "'%s' is empty (e.g. %s = \"%s\";)", name, name,
                example);
    return 0;
}

static int get_bool(struct loader *L, const config_setting_t *s,
                    const char *name, bool *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        FAIL_AT(L, s, "'%s' must be true or false (without quotes), "
                "not %s", name, type_name(config_setting_type(s)));
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* An absolute file name, into *out (replacing what was there). */
static int get_path(struct loader *L, const config_setting_t *s,
                    const char *name, const char *example, char **out,
                    int *src_line)
{
    const char *str;
    if (get_string(L, s, name, example, &str) < 0)
        return -1;
    if (str[0] != '/')
        FAIL_AT(L, s, "'%s' must be an absolute path (starting with /), "
                "not \"%s\"", name, str);
    char *d = strdup(str);
    if (!d)
        FAIL_AT(L, s, "out of memory");
    free(*out);
    *out = d;
    *src_line = config_setting_source_line(s);
    return 0;
}

static int load_members(struct loader *L, const config_setting_t *s)
{
    struct raftd_config *cfg = L->cfg;
    static const char example[] =
        "members = ( { id = 1; url = \"http://192.0.2.1:7001\"; }, "
        "{ id = 2; url = \"http://192.0.2.2:7001\"; }, ... );";

    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        FAIL_AT(L, s, "'members' must be a list of groups in parentheses, "
                "not %s: %s", type_name(config_setting_type(s)), example);
    int n = config_setting_length(s);
    if (n > RAFT_MAX_MEMBERS)
        FAIL_AT(L, s, "'members' lists %d members; at most %d are "
                "supported", n, RAFT_MAX_MEMBERS);
    free_members(cfg);
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            FAIL_AT(L, g, "member %d must be a group { id = N; url = "
                    "\"http://host:port\"; }, not %s", i + 1,
                    type_name(config_setting_type(g)));
        const config_setting_t *sid = NULL, *surl = NULL;
        for (int j = 0; j < config_setting_length(g); j++) {
            const config_setting_t *e = config_setting_get_elem(g,
                                                                (unsigned)j);
            const char *nm = config_setting_name(e);
            if (nm && strcmp(nm, "id") == 0)
                sid = e;
            else if (nm && strcmp(nm, "url") == 0)
                surl = e;
            else
                FAIL_AT(L, e, "unknown setting '%s' in member %d; a member "
                        "has only 'id' and 'url'", nm ? nm : "?", i + 1);
        }
        if (!sid)
            FAIL_AT(L, g, "member %d has no 'id'; write { id = N; url = "
                    "\"http://host:port\"; }", i + 1);
        if (!surl)
            FAIL_AT(L, g, "member %d has no 'url'; write { id = N; url = "
                    "\"http://host:port\"; }", i + 1);
        int64_t id;
        if (get_int(L, sid, "id", 1, MAX_ID, "", 1, &id) < 0)
            return -1;
        const char *url;
        if (get_string(L, surl, "url", "http://192.0.2.1:7001", &url) < 0)
            return -1;
        struct raftd_member *m = &cfg->members[cfg->n_members];
        const char *why = NULL;
        if (parse_url(url, &m->url, &m->host, &m->port, &m->https,
                      &why) < 0)
            FAIL_AT(L, surl, "member %" PRId64 ": bad url \"%s\": %s", id,
                    url, why);
        m->id = (raft_id)id;
        m->line = config_setting_source_line(g);
        cfg->n_members++;
    }
    cfg->src.members = config_setting_source_line(s);
    if (cfg->src.members <= 0)
        cfg->src.members = 1;
    return 0;
}

/* Known top-level settings, and names people are likely to try instead. */
static const char *const known[] = {
    "id", "listen", "data_dir", "members", "heartbeat_ms",
    "election_timeout_min_ms", "election_timeout_max_ms", "rpc_timeout_ms",
    "request_timeout_ms", "prevote", "check_quorum", "log_level", "max_request_bytes",
    "snapshot_entries", "snapshot_keep_entries", "max_snapshot_bytes",
    "wal_segment_bytes", "max_connections", "peer_auth", "peer_secret_file",
    "tls_cert_file", "tls_key_file", "tls_ca_file", "peer_client_cert_auth",
    "client_cert_auth", "fault_injection",
};
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"peers", "members"},          {"nodes", "members"},
    {"servers", "members"},        {"node_id", "id"},
    {"host", "listen"},            {"port", "listen"},
    {"bind", "listen"},            {"address", "listen"},
    {"listen_address", "listen"},  {"datadir", "data_dir"},
    {"data_directory", "data_dir"}, {"state_dir", "data_dir"},
    {"election_timeout", "election_timeout_min_ms and "
                         "election_timeout_max_ms"},
    {"election_timeout_ms", "election_timeout_min_ms and "
                            "election_timeout_max_ms"},
    {"pre_vote", "prevote"},       {"loglevel", "log_level"},
    {"secret", "peer_secret_file"}, {"secret_file", "peer_secret_file"},
    {"peer_secret", "peer_secret_file"}, {"auth", "peer_auth"},
    {"connection_limit", "max_connections"},
    {"max_clients", "max_connections"},
    {"log", "log_level"},          {"verbosity", "log_level"},
    {"cert_file", "tls_cert_file"}, {"cert", "tls_cert_file"},
    {"certificate", "tls_cert_file"}, {"key_file", "tls_key_file"},
    {"key", "tls_key_file"},       {"ca_file", "tls_ca_file"},
    {"cacert", "tls_ca_file"},     {"trusted_ca_file", "tls_ca_file"},
    {"peer_trusted_ca_file", "tls_ca_file"},
    {"peer_cert_file", "tls_cert_file"}, {"peer_key_file", "tls_key_file"},
    {"peer_cert_auth", "peer_client_cert_auth"},
    {"client_cert", "client_cert_auth"},
    {"faults", "fault_injection"}, {"enable_faults", "fault_injection"},
};

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] +
                         (tolower((unsigned char)a[i - 1]) !=
                          tolower((unsigned char)b[j - 1]));
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            size_t m = sub < del ? sub : del;
            d[i][j] = m < ins ? m : ins;
        }
    return d[la][lb];
}

static const char *suggest(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0)
            return aliases[i].name;
    const char *best = NULL;
    size_t bestd = 4;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t d = edit_distance(name, known[i]);
        size_t ln = strlen(name), lk = strlen(known[i]);
        /* "heartbeat" for "heartbeat_ms", "election_timeout_min" ... */
        if (ln >= 4 && ln < lk && strncasecmp(name, known[i], ln) == 0)
            d = 1;
        if (d < bestd) {
            bestd = d;
            best = known[i];
        }
    }
    return best;
}

static int load_setting(struct loader *L, const config_setting_t *s)
{
    struct raftd_config *cfg = L->cfg;
    const char *name = config_setting_name(s);
    int line = config_setting_source_line(s);
    int64_t v;
    const char *str;

    if (!name)
        FAIL_AT(L, s, "unnamed top-level value");
    if (strcmp(name, "id") == 0) {
        if (get_int(L, s, "id", 1, MAX_ID, "", 1, &v) < 0)
            return -1;
        cfg->id = (raft_id)v;
        cfg->src.id = line;
    } else if (strcmp(name, "listen") == 0) {
        if (get_string(L, s, "listen", "0.0.0.0:7001", &str) < 0)
            return -1;
        char *host;
        uint16_t port;
        const char *why = NULL;
        if (parse_hostport(str, strlen(str), &host, &port, &why) < 0)
            FAIL_AT(L, s, "bad listen address \"%s\": %s (write "
                    "\"host:port\", e.g. \"0.0.0.0:7001\" for all IPv4 "
                    "addresses or \"[::]:7001\" for all addresses)", str,
                    why);
        free(cfg->listen_host);
        cfg->listen_host = host;
        cfg->listen_port = port;
        cfg->src.listen = line;
    } else if (strcmp(name, "data_dir") == 0) {
        return get_path(L, s, name, RAFTD_DEFAULT_DATA_DIR, &cfg->data_dir,
                        &cfg->src.data_dir);
    } else if (strcmp(name, "members") == 0) {
        return load_members(L, s);
    } else if (strcmp(name, "heartbeat_ms") == 0) {
        if (get_int(L, s, name, 1, 60000, "milliseconds", 100, &v) < 0)
            return -1;
        cfg->heartbeat_ms = (unsigned)v;
        cfg->src.heartbeat_ms = line;
    } else if (strcmp(name, "election_timeout_min_ms") == 0) {
        if (get_int(L, s, name, 1, 600000, "milliseconds", 1000, &v) < 0)
            return -1;
        cfg->election_timeout_min_ms = (unsigned)v;
        cfg->src.election_timeout_min_ms = line;
    } else if (strcmp(name, "election_timeout_max_ms") == 0) {
        if (get_int(L, s, name, 1, 600000, "milliseconds", 2000, &v) < 0)
            return -1;
        cfg->election_timeout_max_ms = (unsigned)v;
        cfg->src.election_timeout_max_ms = line;
    } else if (strcmp(name, "rpc_timeout_ms") == 0) {
        if (get_int(L, s, name, 1, 600000, "milliseconds", 500, &v) < 0)
            return -1;
        cfg->rpc_timeout_ms = (unsigned)v;
        cfg->src.rpc_timeout_ms = line;
        cfg->src.rpc_timeout_set = true;
    } else if (strcmp(name, "request_timeout_ms") == 0) {
        if (get_int(L, s, name, 1, 3600000, "milliseconds", 5000, &v) < 0)
            return -1;
        cfg->request_timeout_ms = (unsigned)v;
        cfg->src.request_timeout_ms = line;
    } else if (strcmp(name, "prevote") == 0) {
        cfg->src.prevote = line;
        return get_bool(L, s, name, &cfg->prevote);
    } else if (strcmp(name, "check_quorum") == 0) {
        cfg->src.check_quorum = line;
        return get_bool(L, s, name, &cfg->check_quorum);
    } else if (strcmp(name, "fault_injection") == 0) {
        cfg->src.fault_injection = line;
        return get_bool(L, s, name, &cfg->fault_injection);
    } else if (strcmp(name, "log_level") == 0) {
        if (get_string(L, s, name, "info", &str) < 0)
            return -1;
        int lv = config_parse_log_level(str);
        if (lv < 0)
            FAIL_AT(L, s, "unknown log_level \"%s\"; use one of \"error\", "
                    "\"warning\", \"notice\", \"info\", \"debug\"", str);
        cfg->log_level = lv;
        cfg->src.log_level = line;
    } else if (strcmp(name, "max_request_bytes") == 0) {
        if (get_int(L, s, name, 1024, (int64_t)1 << 30, "bytes", 8388608,
                    &v) < 0)
            return -1;
        cfg->max_request_bytes = (size_t)v;
        cfg->src.max_request_bytes = line;
    } else if (strcmp(name, "max_connections") == 0) {
        if (get_int(L, s, name, 1, 1000000, "connections", 1024, &v) < 0)
            return -1;
        cfg->max_connections = (unsigned)v;
        cfg->src.max_connections = line;
    } else if (strcmp(name, "snapshot_entries") == 0) {
        if (get_int(L, s, name, 0, 100000000, "entries", 10000, &v) < 0)
            return -1;
        cfg->snapshot_entries = (unsigned)v;
        cfg->src.snapshot_entries = line;
    } else if (strcmp(name, "snapshot_keep_entries") == 0) {
        if (get_int(L, s, name, 0, 100000000, "entries", 5000, &v) < 0)
            return -1;
        cfg->snapshot_keep_entries = (unsigned)v;
        cfg->src.snapshot_keep_entries = line;
    } else if (strcmp(name, "max_snapshot_bytes") == 0) {
        if (get_int(L, s, name, 4096, INT64_C(1) << 40, "bytes", 1073741824,
                    &v) < 0)
            return -1;
        cfg->max_snapshot_bytes = (size_t)v;
        cfg->src.max_snapshot_bytes = line;
    } else if (strcmp(name, "wal_segment_bytes") == 0) {
        if (get_int(L, s, name, 65536, (int64_t)1 << 30, "bytes", 67108864,
                    &v) < 0)
            return -1;
        cfg->wal_segment_bytes = (size_t)v;
        cfg->src.wal_segment_bytes = line;
    } else if (strcmp(name, "peer_auth") == 0) {
        if (get_string(L, s, name, "hmac", &str) < 0)
            return -1;
        if (strcmp(str, "hmac") && strcmp(str, "none"))
            FAIL_AT(L, s, "peer_auth must be \"hmac\" (members sign their "
                    "requests with the secret in peer_secret_file) or "
                    "\"none\" (no authentication: anyone who reaches the "
                    "port can disrupt the cluster), not \"%s\"", str);
        cfg->peer_auth = strcmp(str, "hmac") == 0;
        cfg->src.peer_auth = line;
    } else if (strcmp(name, "peer_secret_file") == 0) {
        return get_path(L, s, name, RAFTD_DEFAULT_PEER_SECRET,
                        &cfg->peer_secret_file, &cfg->src.peer_secret_file);
    } else if (strcmp(name, "tls_cert_file") == 0) {
        return get_path(L, s, name, "/etc/ssl/raftd/node.pem",
                        &cfg->tls_cert_file, &cfg->src.tls_cert_file);
    } else if (strcmp(name, "tls_key_file") == 0) {
        return get_path(L, s, name, "/etc/raftd/tls-key.pem",
                        &cfg->tls_key_file, &cfg->src.tls_key_file);
    } else if (strcmp(name, "tls_ca_file") == 0) {
        return get_path(L, s, name, "/etc/ssl/raftd/ca.pem",
                        &cfg->tls_ca_file, &cfg->src.tls_ca_file);
    } else if (strcmp(name, "peer_client_cert_auth") == 0) {
        cfg->src.peer_client_cert_auth = line;
        return get_bool(L, s, name, &cfg->peer_client_cert_auth);
    } else if (strcmp(name, "client_cert_auth") == 0) {
        cfg->src.client_cert_auth = line;
        return get_bool(L, s, name, &cfg->client_cert_auth);
    } else {
        const char *hint = suggest(name);
        if (hint)
            FAIL_AT(L, s, "unknown setting '%s'; did you mean %s? "
                    "(see raftd.conf(5))", name, hint);
        FAIL_AT(L, s, "unknown setting '%s' (see raftd.conf(5) for the "
                "settings raftd knows)", name);
    }
    return 0;
}

int config_load(struct raftd_config *cfg, const char *path, char *err,
                size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    char *p = strdup(path);
    if (!p) {
        seterr(err, errlen, path, 0, "out of memory");
        return -1;
    }
    free(cfg->path);
    cfg->path = p;

    /* libconfig's message for a file it cannot open is unhelpful. */
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        seterr(err, errlen, path, 0, "cannot read the configuration file: "
               "%s%s", strerror(e),
               e == ENOENT ? " (create it from the example in raftd.conf(5),"
                             " or pass --config FILE)" : "");
        return -1;
    }
    int lines = 0, c, prev = '\n';
    while ((c = getc(f)) != EOF) {
        if (c == '\n')
            lines++;
        prev = c;
    }
    if (prev != '\n')
        lines++;
    cfg->src.last_line = lines > 0 ? lines : 1;
    fclose(f);

    config_t lc;
    config_init(&lc);
    /* @include "file" is relative to the directory of the main file. */
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        config_set_include_dir(&lc, dir);
    }
    free(dir);

    int rc = 0;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        const char *ef = config_error_file(&lc);
        const char *text = config_error_text(&lc);
        int line = config_error_line(&lc);
        bool syntax = text && strstr(text, "syntax error");
        seterr(err, errlen, ef ? ef : path, line, "%s%s",
               text ? text : "cannot parse the file",
               syntax ? " (libconfig syntax: name = value; with strings in "
                        "double quotes and lists in ( ); an error may be "
                        "reported on the line after the mistake)" : "");
        rc = -1;
        goto out;
    }

    struct loader L = {cfg, err, errlen};
    const config_setting_t *root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        if (load_setting(&L, config_setting_get_elem(root, (unsigned)i)) < 0) {
            rc = -1;
            goto out;
        }
    }
    /* rpc_timeout_ms follows the election timeout unless set. */
    if (!cfg->src.rpc_timeout_set) {
        cfg->rpc_timeout_ms = cfg->election_timeout_min_ms / 2;
        if (cfg->rpc_timeout_ms == 0)
            cfg->rpc_timeout_ms = 1;
    }
out:
    config_destroy(&lc);
    return rc;
}

/* ---- self identification ----------------------------------------------- */

#define MAX_LOCAL 64

struct local_addrs {
    size_t n;
    struct sockaddr_storage a[MAX_LOCAL];
};

static void get_local_addrs(struct local_addrs *la)
{
    struct ifaddrs *ifa, *i;
    la->n = 0;
    if (getifaddrs(&ifa) < 0)
        return;
    for (i = ifa; i && la->n < MAX_LOCAL; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        int fam = i->ifa_addr->sa_family;
        if (fam == AF_INET)
            memcpy(&la->a[la->n++], i->ifa_addr, sizeof(struct sockaddr_in));
        else if (fam == AF_INET6)
            memcpy(&la->a[la->n++], i->ifa_addr,
                   sizeof(struct sockaddr_in6));
    }
    freeifaddrs(ifa);
}

static bool addr_is_local(const struct local_addrs *la,
                          const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) == 127) /* all of 127/8 is loopback */
            return true;
        for (size_t i = 0; i < la->n; i++)
            if (la->a[i].ss_family == AF_INET &&
                ((const struct sockaddr_in *)&la->a[i])->sin_addr.s_addr ==
                    a->s_addr)
                return true;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        for (size_t i = 0; i < la->n; i++)
            if (la->a[i].ss_family == AF_INET6 &&
                memcmp(&((const struct sockaddr_in6 *)&la->a[i])->sin6_addr,
                       a, sizeof *a) == 0)
                return true;
    }
    return false;
}

static void addr_string(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

/* Append printf output to buf at *pos, never overflowing. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
    if (*pos >= len)
        *pos = len;
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return false;
}

static bool is_wildcard_host(const char *h)
{
    return !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "*") == 0;
}

static int resolve_host(const char *host, struct addrinfo **res)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    *res = NULL;
    return getaddrinfo(host, NULL, &hints, res);
}

static int find_self(struct raftd_config *cfg, char *err, size_t errlen)
{
    struct local_addrs la;
    get_local_addrs(&la);

    /* With a specific listen address, only a member URL naming that very
     * address can be this node: peers could not reach us at another one. */
    struct addrinfo *lres = NULL;
    bool by_listen_host = cfg->src.listen &&
                          !is_wildcard_host(cfg->listen_host);
    if (by_listen_host && resolve_host(cfg->listen_host, &lres) != 0)
        lres = NULL;

    raft_id match[RAFT_MAX_MEMBERS];
    unsigned n_match = 0;
    char notes[1024];
    size_t np = 0;
    notes[0] = '\0';

    for (unsigned i = 0; i < cfg->n_members; i++) {
        const struct raftd_member *m = &cfg->members[i];
        struct addrinfo *res = NULL;
        int gai = resolve_host(m->host, &res);
        if (gai != 0) {
            append(notes, sizeof notes, &np, "%s%" PRIu64 " %s (%s)",
                   np ? ", " : "", m->id, m->url, gai_strerror(gai));
            continue;
        }
        bool local = false, listen_ok = !by_listen_host;
        char first[INET6_ADDRSTRLEN] = "?";
        if (res)
            addr_string(res->ai_addr, first, sizeof first);
        for (struct addrinfo *r = res; r; r = r->ai_next) {
            if (addr_is_local(&la, r->ai_addr))
                local = true;
            for (struct addrinfo *l = lres; l && !listen_ok; l = l->ai_next)
                listen_ok = same_addr(r->ai_addr, l->ai_addr);
        }
        freeaddrinfo(res);
        bool port_ok = !cfg->src.listen || m->port == cfg->listen_port;
        if (local && port_ok && listen_ok)
            match[n_match++] = m->id;
        append(notes, sizeof notes, &np, "%s%" PRIu64 " %s (%s%s)",
               np ? ", " : "", m->id, m->url, local ? "this machine" : first,
               local && !(port_ok && listen_ok) ? ", but not the listen "
                                                  "address" : "");
    }
    if (lres)
        freeaddrinfo(lres);
    if (n_match == 1) {
        cfg->id = match[0];
        return 0;
    }

    const char *file = cfg->path ? cfg->path : "(config)";
    int line = cfg->src.members > 0 ? cfg->src.members : cfg->src.last_line;
    if (n_match == 0) {
        char mine[512];
        size_t mp = 0;
        mine[0] = '\0';
        for (size_t i = 0; i < la.n; i++) {
            char a[INET6_ADDRSTRLEN];
            addr_string((const struct sockaddr *)&la.a[i], a, sizeof a);
            append(mine, sizeof mine, &mp, "%s%s", mp ? ", " : "", a);
        }
        seterr(err, errlen, file, line,
               "cannot tell which member this machine is: no member URL "
               "names an address of this machine%s (members: %s; this "
               "machine: %s); set id = N in the file or pass --id N",
               cfg->src.listen ? " and the listen address" : "", notes,
               mp ? mine : "no addresses found");
    } else {
        char ids[256];
        size_t ip = 0;
        ids[0] = '\0';
        for (unsigned i = 0; i < n_match; i++)
            append(ids, sizeof ids, &ip, "%s%" PRIu64, i ? ", " : "",
                   match[i]);
        seterr(err, errlen, file, line,
               "cannot tell which member this machine is: members %s each "
               "have an address of this machine%s (members: %s); set id = N "
               "in the file or pass --id N%s", ids,
               cfg->src.listen ? " and the listen address" : "", notes,
               cfg->src.listen ? "" : ", or set listen = \"host:port\" to "
                                      "pick the member by its address");
    }
    return -1;
}

/* ---- resolve + validate ------------------------------------------------ */

/* Errors about the file name a line; when the setting at fault is absent
 * (or came from the command line), the end of the file. */
#define LINE(l) ((l) > 0 ? (l) : cfg->src.last_line)

/* peer_client_cert_auth or client_cert_auth (name) = on, set on line. */
static int check_cert_auth(const struct raftd_config *cfg,
                           const struct raftd_member *self, const char *name,
                           bool on, int line, const char *from, char *err,
                           size_t errlen)
{
    const char *file = cfg->path ? cfg->path : "(config)";
    if (on && !self->https) {
        seterr(err, errlen, file, LINE(line),
               "%s = true needs TLS, but this node's member URL %s is "
               "http://: make it https:// (with tls_cert_file and "
               "tls_key_file), or set %s = false", name, self->url, name);
        return -1;
    }
    if (on && !cfg->tls_ca_file) {
        seterr(err, errlen, file, LINE(line),
               "%s = true needs tls_ca_file: the CA whose certificates are "
               "accepted from %s", name, from);
        return -1;
    }
    return 0;
}

/* The TLS settings must fit together and with this node's member URL
 * (the files themselves are checked by tls_load(), tls.h). */
static int check_tls(const struct raftd_config *cfg,
                     const struct raftd_member *self, char *err,
                     size_t errlen)
{
    const char *file = cfg->path ? cfg->path : "(config)";
    if (!cfg->tls_cert_file != !cfg->tls_key_file) {
        bool cert = cfg->tls_cert_file != NULL;
        seterr(err, errlen, file,
               LINE(cert ? cfg->src.tls_cert_file : cfg->src.tls_key_file),
               "%s is set but %s is not: set both, the certificate and its "
               "private key (PEM files)", cert ? "tls_cert_file" :
               "tls_key_file", cert ? "tls_key_file" : "tls_cert_file");
        return -1;
    }
    if (self->https && !cfg->tls_cert_file) {
        seterr(err, errlen, file, LINE(self->line),
               "this node's member URL %s is https://, so it serves HTTPS "
               "only: set tls_cert_file and tls_key_file (its certificate "
               "and private key, PEM files) and tls_ca_file (the CA that "
               "signed the members' certificates); see TLS in "
               "raftd.conf(5)", self->url);
        return -1;
    }
    if (check_cert_auth(cfg, self, "peer_client_cert_auth",
                        cfg->peer_client_cert_auth,
                        cfg->src.peer_client_cert_auth, "peers", err,
                        errlen) < 0 ||
        check_cert_auth(cfg, self, "client_cert_auth", cfg->client_cert_auth,
                        cfg->src.client_cert_auth, "clients", err,
                        errlen) < 0)
        return -1;
    return 0;
}

int config_resolve(struct raftd_config *cfg, char *err, size_t errlen)
{
    const char *file = cfg->path ? cfg->path : "(config)";

    if (err && errlen)
        err[0] = '\0';
    if (!cfg->data_dir || !cfg->data_dir[0]) {
        seterr(err, errlen, file, LINE(cfg->src.data_dir),
               "data_dir is not set (e.g. data_dir = \"%s\";)",
               RAFTD_DEFAULT_DATA_DIR);
        return -1;
    }
    if (cfg->n_members == 0) {
        seterr(err, errlen, file, LINE(cfg->src.members),
               "no members are configured; list every node of the cluster, "
               "e.g. members = ( { id = 1; url = \"http://192.0.2.1:7001\"; "
               "}, { id = 2; url = \"http://192.0.2.2:7001\"; }, { id = 3; "
               "url = \"http://192.0.2.3:7001\"; } );");
        return -1;
    }
    if (cfg->n_members > RAFT_MAX_MEMBERS) {
        seterr(err, errlen, file, LINE(cfg->src.members),
               "%u members configured; at most %d are supported",
               cfg->n_members, RAFT_MAX_MEMBERS);
        return -1;
    }
    for (unsigned i = 0; i < cfg->n_members; i++) {
        const struct raftd_member *m = &cfg->members[i];
        if (m->id < 1 || !m->url || !m->host || m->port == 0) {
            seterr(err, errlen, file, LINE(m->line),
                   "member %u is incomplete: it needs an id >= 1 and a url "
                   "\"http://host:port\"", i + 1);
            return -1;
        }
        for (unsigned j = 0; j < i; j++) {
            const struct raftd_member *o = &cfg->members[j];
            if (o->id == m->id) {
                seterr(err, errlen, file, LINE(m->line),
                       "member id %" PRIu64 " is used twice (also on line "
                       "%d); every member needs its own id", m->id,
                       o->line);
                return -1;
            }
            if (o->port == m->port && strcasecmp(o->host, m->host) == 0) {
                seterr(err, errlen, file, LINE(m->line),
                       "members %" PRIu64 " and %" PRIu64 " have the same "
                       "address %s; every member needs its own host:port",
                       o->id, m->id, m->url);
                return -1;
            }
        }
    }

    if (cfg->heartbeat_ms < 1 || cfg->election_timeout_min_ms < 1 ||
        cfg->rpc_timeout_ms < 1) {
        seterr(err, errlen, file, LINE(0), "timeouts must be at least 1 ms");
        return -1;
    }
    if (cfg->heartbeat_ms >= cfg->election_timeout_min_ms) {
        int line = cfg->src.heartbeat_ms ? cfg->src.heartbeat_ms
                                         : cfg->src.election_timeout_min_ms;
        seterr(err, errlen, file, LINE(line),
               "heartbeat_ms (%u) must be less than election_timeout_min_ms "
               "(%u), or followers time out between heartbeats; keep it "
               "several times smaller (defaults: 100 and 1000)",
               cfg->heartbeat_ms, cfg->election_timeout_min_ms);
        return -1;
    }
    if (cfg->election_timeout_min_ms >= cfg->election_timeout_max_ms) {
        int line = cfg->src.election_timeout_max_ms
                       ? cfg->src.election_timeout_max_ms
                       : cfg->src.election_timeout_min_ms;
        seterr(err, errlen, file, LINE(line),
               "election_timeout_max_ms (%u) must be greater than "
               "election_timeout_min_ms (%u): the timeout is drawn at random "
               "between them so that nodes do not all time out together "
               "(defaults: 1000 and 2000)",
               cfg->election_timeout_max_ms, cfg->election_timeout_min_ms);
        return -1;
    }
    if (cfg->rpc_timeout_ms > cfg->election_timeout_min_ms) {
        seterr(err, errlen, file, LINE(cfg->src.rpc_timeout_ms),
               "rpc_timeout_ms (%u) must not exceed election_timeout_min_ms "
               "(%u), so that a slow peer cannot hold up an election",
               cfg->rpc_timeout_ms, cfg->election_timeout_min_ms);
        return -1;
    }
    if (cfg->max_request_bytes < 1024) {
        seterr(err, errlen, file, LINE(cfg->src.max_request_bytes),
               "max_request_bytes must be at least 1024");
        return -1;
    }
    if (cfg->snapshot_entries &&
        cfg->snapshot_keep_entries > cfg->snapshot_entries * (uint64_t)100) {
        seterr(err, errlen, file, LINE(cfg->src.snapshot_keep_entries),
               "snapshot_keep_entries (%u) is more than 100 times "
               "snapshot_entries (%u): the log would keep growing long after "
               "each snapshot; lower it (default 5000 with 5000)",
               cfg->snapshot_keep_entries, cfg->snapshot_entries);
        return -1;
    }
    if (cfg->log_level < LOG_ERR || cfg->log_level > LOG_DEBUG) {
        seterr(err, errlen, file, LINE(0), "log_level is out of range");
        return -1;
    }

    if (cfg->id == RAFT_NONE) {
        if (find_self(cfg, err, errlen) < 0)
            return -1;
    }
    const struct raftd_member *self = config_member(cfg, cfg->id);
    if (!self) {
        char ids[256];
        size_t ip = 0;
        ids[0] = '\0';
        for (unsigned i = 0; i < cfg->n_members; i++)
            append(ids, sizeof ids, &ip, "%s%" PRIu64, i ? ", " : "",
                   cfg->members[i].id);
        seterr(err, errlen, file,
               LINE(cfg->src.id ? cfg->src.id : cfg->src.members),
               "this node's id %" PRIu64 " is not among the members (ids %s); "
               "fix 'id' (or --id) or add the node to 'members'", cfg->id,
               ids);
        return -1;
    }
    if (!cfg->listen_host) {
        cfg->listen_host = strdup(self->host);
        if (!cfg->listen_host) {
            seterr(err, errlen, file, LINE(0), "out of memory");
            return -1;
        }
        cfg->listen_port = self->port;
    }
    return check_tls(cfg, self, err, errlen);
}
