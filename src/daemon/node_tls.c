/* node_tls.c - TLS in the node (tls.h): the HTTP server's and client's
 * certificates at start and on reload (SIGHUP), and the client-certificate
 * gates of peer_client_cert_auth and client_cert_auth.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include "logging.h"
#include "node_internal.h"
#include "tls.h"

/* The server's TLS from the files (NULL: this node serves plain HTTP). */
static const struct http_server_tls *server_tls(const struct raftd_config *cfg,
                                                const struct raftd_tls_files *f,
                                                struct http_server_tls *st)
{
    const struct raftd_member *self = config_member(cfg, cfg->id);
    if (!self || !self->https)
        return NULL;
    bool ask = cfg->peer_client_cert_auth || cfg->client_cert_auth;
    *st = (struct http_server_tls){f->cert_pem, f->key_pem,
                                   ask ? f->ca_pem : NULL};
    return st;
}

static int client_tls(struct node *n, const struct raftd_tls_files *f)
{
    struct http_client_tls ct = {f->ca_pem, f->cert_pem, f->key_pem};
    return http_client_set_tls(n->client, tls_wanted(n->cfg) ? &ct : NULL);
}

const struct http_server_tls *node_tls_start(struct node *n,
                                             struct http_server_tls *st,
                                             char *err, size_t errlen)
{
    if (client_tls(n, &n->cfg->tls) < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct http_server_tls *t = server_tls(n->cfg, &n->cfg->tls, st);
    if (t)
        log_msg(LOG_INFO, "serving HTTPS with the certificate %s%s",
                n->cfg->tls.about,
                t->ca_pem ? "; clients are asked for a certificate of "
                            "tls_ca_file" : "");
    return t;
}

/* Use f for the connections made from now on; -1 with err if it cannot
 * be (nothing changes then). */
static int apply(struct node *n, const struct raftd_tls_files *f, char *err,
                 size_t errlen)
{
    struct http_server_tls st;
    const struct http_server_tls *t = server_tls(n->cfg, f, &st);
    if (t && http_server_set_tls(n->http, t, err, errlen) < 0)
        return -1;
    if (client_tls(n, f) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void node_reload(struct node *n)
{
    const struct raftd_config *cfg = n->cfg;
    if (!cfg->tls_cert_file && !cfg->tls_ca_file) {
        log_msg(LOG_INFO, "reload: no TLS files to reread (neither "
                "tls_cert_file nor tls_ca_file is set)");
        return;
    }
    struct raftd_tls_files f = {0};
    char err[1024], warn[512] = "";
    if (tls_load(cfg, &f, err, sizeof(err), warn, sizeof(warn)) < 0 ||
        apply(n, &f, err, sizeof(err)) < 0) {
        log_raft(LOG_ERR, &(struct log_raft){.event = "tls_reload_failed",
                                             .term = raft_current_term(n->raft)},
                 "reload: kept the TLS certificates in use: %s", err);
        config_tls_files_free(&f);
        return;
    }
    log_raft(LOG_NOTICE, &(struct log_raft){.event = "tls_reloaded",
                                            .term = raft_current_term(n->raft)},
             "reload: new connections use the certificate %s (%s), the key "
             "%s%s and the CA %s", f.cert_pem ? f.about : "(none)",
             cfg->tls_cert_file ? cfg->tls_cert_file : "no tls_cert_file",
             f.key_source ? f.key_source : "(none)",
             f.key_from_credential ? " (a systemd credential: it changes "
                                     "only when raftd restarts)" : "",
             cfg->tls_ca_file ? cfg->tls_ca_file : "of the system");
    if (warn[0])
        log_msg(LOG_WARNING, "%s", warn);
    config_tls_files_free(&f);
}

int node_tls_admit(struct node *n, struct http_request *req, bool peer,
                   char *why, size_t whylen)
{
    const struct raftd_config *cfg = n->cfg;
    if (!(peer ? cfg->peer_client_cert_auth : cfg->client_cert_auth))
        return 0;
    char because[512];
    if (http_request_client_cert(req, because, sizeof(because)) == 1)
        return 0;
    snprintf(why, whylen, "%s requests need a client certificate signed by "
             "this cluster's CA (%s = true): %s", peer ? "peer" : "client",
             peer ? "peer_client_cert_auth" : "client_cert_auth", because);
    return -1;
}
