/* tls.c - reading and checking this node's TLS files (tls.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peer_secret.h"

#define PEM_MAX (1u << 20)    /* no certificate file is larger */
#define EXPIRY_WARN_DAYS 30
#define OID_SERVER "1.3.6.1.5.5.7.3.1"
#define OID_CLIENT "1.3.6.1.5.5.7.3.2"
#define OID_ANY "2.5.29.37.0"

bool tls_wanted(const struct raftd_config *cfg)
{
    for (unsigned i = 0; i < cfg->n_members; i++)
        if (cfg->members[i].https)
            return true;
    return cfg->tls_cert_file || cfg->tls_ca_file;
}

/* What tls_load() is checking: one file of one setting. */
struct check {
    const struct raftd_config *cfg;
    const char *setting;  /* "tls_cert_file", ... */
    const char *file;     /* its value */
    int line;             /* its line in the config file */
    const char *read;     /* what was read: the file or its credential */
    bool credential;
    char *err;
    size_t errlen;
};

/* "<config>:<line>: <setting> <file>[ (read from <credential>)]: <what>" */
__attribute__((format(printf, 2, 3)))
static int fail(const struct check *c, const char *fmt, ...)
{
    const struct raftd_config *cfg = c->cfg;
    int n = snprintf(c->err, c->errlen, "%s:%d: %s %s%s%s%s: ",
                     cfg->path ? cfg->path : "(config)",
                     c->line > 0 ? c->line : cfg->src.last_line, c->setting,
                     c->file, c->credential ? " (read from the credential "
                                            : "",
                     c->credential ? c->read : "", c->credential ? ")" : "");
    if (n < 0 || (size_t)n >= c->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The whole file (a systemd credential for a file of /etc/raftd/), or
 * NULL with the error set. secret: the private key. */
static char *read_pem(struct check *c, bool secret, struct private_file *pf,
                      size_t *len)
{
    char *text = private_file_read(c->file, PEM_MAX, len, secret, pf);
    int e = errno;
    c->read = pf->path;
    c->credential = pf->from_credential;
    if (text && !memchr(text, 0, *len))
        return text;
    if (text) {
        if (secret)
            explicit_bzero(text, *len);
        free(text);
        fail(c, "holds a NUL byte: it is not a PEM file");
        return NULL;
    }
    if (e == ENOENT)
        fail(c, "does not exist%s", secret ? " (the systemd unit passes "
             "the files of " RAFTD_PRIVATE_DIR " to raftd as credentials: "
             "is it there?)" : "");
    else if (e == EPERM)
        fail(c, "can be read by every user of this machine: chmod 600 %s "
             "(and make a new key and certificate if others may have read "
             "it)", c->file);
    else if (e == EACCES && secret)
        fail(c, "cannot be read: %s (the systemd unit runs raftd as an "
             "unprivileged user and passes the files of " RAFTD_PRIVATE_DIR
             " to it as credentials: keep the key there)", strerror(e));
    else if (e == EACCES)
        fail(c, "cannot be read: %s (the systemd unit runs raftd as an "
             "unprivileged user: certificates are public, make the file "
             "and its directories readable by everyone)", strerror(e));
    else if (e == EFBIG)
        fail(c, "is larger than %u bytes: it is not a PEM file", PEM_MAX);
    else if (e == EINVAL)
        fail(c, "is not a regular file");
    else
        fail(c, "cannot be read: %s", strerror(e));
    return NULL;
}

static void format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
        !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "(unknown)");
}

/* The certificates of a PEM text, or -1 with the error set. */
static int import_certs(struct check *c, const char *pem, size_t len,
                        gnutls_x509_crt_t **crts, unsigned *n)
{
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
    *crts = NULL;
    *n = 0;
    int rv = gnutls_x509_crt_list_import2(crts, n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (rv < 0 || *n == 0)
        return fail(c, "holds no readable PEM certificate (\"-----BEGIN "
                    "CERTIFICATE-----\"): %s",
                    rv < 0 ? gnutls_strerror(rv) : "none found");
    return 0;
}

static void free_certs(gnutls_x509_crt_t *crts, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
}

/* The names a certificate is valid for, for messages: "DNS:a, IP:b". */
static void cert_names(gnutls_x509_crt_t crt, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = 0;
    for (unsigned i = 0; pos < len; i++) {
        char name[256];
        size_t size = sizeof(name);
        unsigned type = 0;
        int rv = gnutls_x509_crt_get_subject_alt_name2(crt, i, name, &size,
                                                       &type, NULL);
        if (rv == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (rv < 0)
            continue;
        char ip[INET6_ADDRSTRLEN];
        const char *shown = NULL, *kind = NULL;
        if (type == GNUTLS_SAN_DNSNAME) {
            kind = "DNS";
            shown = name;
        } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
            kind = "IP";
            shown = inet_ntop(size == 4 ? AF_INET : AF_INET6, name, ip,
                              sizeof(ip));
        }
        if (shown)
            pos += (size_t)snprintf(buf + pos, len - pos, "%s%s:%s",
                                    pos ? ", " : "", kind, shown);
    }
    char cn[256];
    size_t size = sizeof(cn);
    if (pos < len &&
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                      cn, &size) >= 0)
        snprintf(buf + pos, len - pos, "%sCN=%s", pos ? ", " : "", cn);
    if (!buf[0])
        snprintf(buf, len, "no names at all");
}

/* Whether crt may be used for purpose (an extended key usage OID): yes
 * when it lists no usages, or lists this one or "any". */
static bool cert_has_purpose(gnutls_x509_crt_t crt, const char *purpose)
{
    for (unsigned i = 0;; i++) {
        char oid[128];
        size_t size = sizeof(oid);
        int rv = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size, NULL);
        if (rv == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return i == 0;
        if (rv >= 0 && (strcmp(oid, purpose) == 0 || strcmp(oid, OID_ANY) == 0))
            return true;
    }
}

/* The certificate for messages: subject, serial, expiry. */
static void describe(gnutls_x509_crt_t crt, char *buf, size_t len)
{
    gnutls_datum_t dn = {NULL, 0};
    unsigned char serial[40];
    size_t slen = sizeof(serial);
    char hex[2 * sizeof(serial) + 1] = "?", until[40];
    if (gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0)
        for (size_t i = 0; i < slen; i++)
            snprintf(hex + 2 * i, 3, "%02x", serial[i]);
    format_time(gnutls_x509_crt_get_expiration_time(crt), until, sizeof(until));
    int rv = gnutls_x509_crt_get_dn3(crt, &dn, 0);
    snprintf(buf, len, "\"%s\", serial %s, valid until %s",
             rv >= 0 && dn.data ? (const char *)dn.data : "?", hex, until);
    gnutls_free(dn.data);
}

/* The leaf's dates, usages and host; warn about an early expiry. */
static int check_leaf(struct check *c, gnutls_x509_crt_t crt, char *warn,
                      size_t warnlen)
{
    const struct raftd_config *cfg = c->cfg;
    time_t now = time(NULL);
    time_t from = gnutls_x509_crt_get_activation_time(crt);
    time_t until = gnutls_x509_crt_get_expiration_time(crt);
    char when[40];
    if (from != (time_t)-1 && now < from) {
        format_time(from, when, sizeof(when));
        return fail(c, "is not valid before %s: is this machine's clock "
                    "right? (peers would refuse it until then)", when);
    }
    if (until != (time_t)-1 && now > until) {
        format_time(until, when, sizeof(when));
        return fail(c, "expired on %s: put a renewed certificate in its "
                    "place (then systemctl reload raftd)", when);
    }
    if (until != (time_t)-1 && warn && now + EXPIRY_WARN_DAYS * 86400 > until) {
        format_time(until, when, sizeof(when));
        snprintf(warn, warnlen, "%s %s expires on %s, in %ld days: renew it, "
                 "then systemctl reload raftd (or send raftd SIGHUP)",
                 c->setting, c->file, when, (long)((until - now) / 86400));
    }
    const struct raftd_member *self = config_member(cfg, cfg->id);
    bool serves = self && self->https;
    if (serves && !cert_has_purpose(crt, OID_SERVER))
        return fail(c, "is not for TLS servers (its extended key usage "
                    "lacks serverAuth): issue one with extendedKeyUsage = "
                    "serverAuth, clientAuth");
    if (cfg->peer_client_cert_auth && !cert_has_purpose(crt, OID_CLIENT))
        return fail(c, "is not for TLS clients (its extended key usage "
                    "lacks clientAuth), and with peer_client_cert_auth the "
                    "members present it to each other: issue one with "
                    "extendedKeyUsage = serverAuth, clientAuth");
    if (!serves)
        return 0;
    unsigned char ip[16];
    bool v4 = inet_pton(AF_INET, self->host, ip) == 1;
    bool v6 = !v4 && inet_pton(AF_INET6, self->host, ip) == 1;
    unsigned ok = v4 || v6 ? gnutls_x509_crt_check_ip(crt, ip, v4 ? 4 : 16, 0)
                           : gnutls_x509_crt_check_hostname2(crt, self->host, 0);
    if (!ok) {
        char names[512];
        cert_names(crt, names, sizeof(names));
        return fail(c, "is not valid for %s, the host of this node's member "
                    "URL %s (it names %s), so peers and clients would refuse "
                    "it: issue one with subjectAltName = %s:%s", self->host,
                    self->url, names, v4 || v6 ? "IP" : "DNS", self->host);
    }
    return 0;
}

/* The certificate chain must lead to a CA of the trust list. */
static int check_chain(struct check *c, gnutls_x509_trust_list_t tl,
                       gnutls_x509_crt_t *chain, unsigned n)
{
    unsigned status = 0;
    int rv = gnutls_x509_trust_list_verify_crt2(tl, chain, n, NULL, 0, 0,
                                                &status, NULL);
    if (rv >= 0 && status == 0)
        return 0;
    gnutls_datum_t out = {NULL, 0};
    if (rv >= 0 && gnutls_certificate_verification_status_print(
                       status, GNUTLS_CRT_X509, &out, 0) >= 0)
        for (size_t l = strlen((char *)out.data); l && out.data[l - 1] == ' ';)
            out.data[--l] = 0; /* (it ends in a space) */
    fail(c, "does not verify against tls_ca_file %s: %s (peers with that CA "
         "would refuse it: use a certificate the cluster's CA signed, with "
         "its intermediate certificates after it in the file, or the CA "
         "that signed it)", c->cfg->tls_ca_file,
         rv < 0 ? gnutls_strerror(rv) : out.data ? (const char *)out.data
                                                 : "not trusted");
    gnutls_free(out.data);
    return -1;
}

static int load_key(struct check *c, gnutls_x509_crt_t leaf, char *pem,
                    size_t len)
{
    gnutls_x509_privkey_t key;
    if (gnutls_x509_privkey_init(&key) < 0)
        return fail(c, "out of memory");
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    int rv = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL,
                                         GNUTLS_PKCS_PLAIN);
    if (rv < 0) {
        gnutls_x509_privkey_deinit(key);
        if (strstr(pem, "ENCRYPTED"))
            return fail(c, "is encrypted: raftd needs the key without a "
                        "passphrase (openssl pkey -in KEY -out NEWKEY, then "
                        "chmod 600 NEWKEY)");
        return fail(c, "holds no readable PEM private key (\"-----BEGIN "
                    "PRIVATE KEY-----\"): %s", gnutls_strerror(rv));
    }
    unsigned char a[64], b[64];
    size_t alen = sizeof(a), blen = sizeof(b);
    bool match = gnutls_x509_crt_get_key_id(leaf, 0, a, &alen) >= 0 &&
                 gnutls_x509_privkey_get_key_id(key, 0, b, &blen) >= 0 &&
                 alen == blen && memcmp(a, b, alen) == 0;
    gnutls_x509_privkey_deinit(key);
    if (!match)
        return fail(c, "is not the key of the certificate in tls_cert_file "
                    "%s: use the key the certificate was issued for",
                    c->cfg->tls_cert_file);
    return 0;
}

int tls_load(const struct raftd_config *cfg, struct raftd_tls_files *f,
             char *err, size_t errlen, char *warn, size_t warnlen)
{
    config_tls_files_free(f);
    if (warn && warnlen)
        warn[0] = 0;
    if (!cfg->tls_cert_file && !cfg->tls_ca_file)
        return 0;
    struct check cert = {cfg, "tls_cert_file", cfg->tls_cert_file,
                         cfg->src.tls_cert_file, NULL, false, err, errlen};
    struct check key = {cfg, "tls_key_file", cfg->tls_key_file,
                        cfg->src.tls_key_file, NULL, false, err, errlen};
    struct check ca = {cfg, "tls_ca_file", cfg->tls_ca_file,
                       cfg->src.tls_ca_file, NULL, false, err, errlen};
    struct private_file pf;
    gnutls_x509_crt_t *chain = NULL, *cas = NULL;
    unsigned n_chain = 0, n_cas = 0;
    gnutls_x509_trust_list_t tl = NULL;
    size_t len = 0;
    int rv = -1;

    if (cfg->tls_cert_file) {
        if (!(f->cert_pem = read_pem(&cert, false, &pf, &len)) ||
            import_certs(&cert, f->cert_pem, len, &chain, &n_chain) < 0 ||
            check_leaf(&cert, chain[0], warn, warnlen) < 0)
            goto out;
        describe(chain[0], f->about, sizeof(f->about));
        if (!(f->key_pem = read_pem(&key, true, &pf, &len)) ||
            load_key(&key, chain[0], f->key_pem, len) < 0)
            goto out;
        f->key_source = strdup(pf.path);
        f->key_from_credential = pf.from_credential;
        if (!f->key_source) {
            fail(&key, "out of memory");
            goto out;
        }
    }
    if (cfg->tls_ca_file) {
        if (!(f->ca_pem = read_pem(&ca, false, &pf, &len)) ||
            import_certs(&ca, f->ca_pem, len, &cas, &n_cas) < 0)
            goto out;
        if (gnutls_x509_trust_list_init(&tl, 0) < 0 ||
            gnutls_x509_trust_list_add_cas(tl, cas, n_cas, 0) < 0) {
            fail(&ca, "out of memory");
            goto out;
        }
        gnutls_free(cas); /* the trust list has the certificates */
        cas = NULL;
        n_cas = 0;
        if (chain && check_chain(&cert, tl, chain, n_chain) < 0)
            goto out;
    }
    rv = 0;
out:
    if (tl)
        gnutls_x509_trust_list_deinit(tl, 1);
    free_certs(cas, n_cas);
    free_certs(chain, n_chain);
    if (rv < 0)
        config_tls_files_free(f);
    return rv;
}

void tls_config_notes(const struct raftd_config *cfg, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned n_http = 0, n_https = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < cfg->n_members; i++)
        cfg->members[i].https ? n_https++ : n_http++;
    if (n_http && n_https) {
        pos += (size_t)snprintf(buf, len, "members with http:// URLs (");
        for (unsigned i = 0, k = 0; i < cfg->n_members && pos < len; i++)
            if (!cfg->members[i].https)
                pos += (size_t)snprintf(buf + pos, len - pos, "%s%" PRIu64,
                                        k++ ? ", " : "", cfg->members[i].id);
        if (pos < len)
            pos += (size_t)snprintf(buf + pos, len - pos,
                                    ") do not encrypt their traffic, nor "
                                    "serve https:// clients: a mixed list "
                                    "is for switching a cluster to https "
                                    "one member at a time");
    }
    if (!n_https && cfg->tls_cert_file && pos < len)
        snprintf(buf + pos, len - pos, "%stls_cert_file is set but no member "
                 "URL is https://: nothing uses it", pos ? "; " : "");
}
