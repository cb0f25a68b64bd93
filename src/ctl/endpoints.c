/* endpoints.c - the members raftctl asks (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

int endpoints_add(struct ctl *c, uint64_t id, const char *url)
{
    for (size_t i = 0; i < c->n_eps; i++)
        if (strcmp(c->eps[i].url, url) == 0 || (id && c->eps[i].id == id)) {
            if (id && !c->eps[i].id)
                c->eps[i].id = id;
            return (int)i;
        }
    if (c->n_eps == CTL_MAX_ENDPOINTS)
        return -1;
    struct endpoint *e = &c->eps[c->n_eps];
    e->id = id;
    snprintf(e->url, sizeof(e->url), "%s", url);
    size_t n = strlen(e->url);
    while (n > 0 && e->url[n - 1] == '/')
        e->url[--n] = '\0';
    return (int)c->n_eps++;
}

int endpoints_parse(struct ctl *c, const char *list, char *why, size_t len)
{
    char buf[4096];
    if (strlen(list) >= sizeof(buf)) {
        snprintf(why, len, "--endpoints: the list is too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        char norm[256], bad[400];
        if (config_normalize_url(u, norm, sizeof(norm), bad, sizeof(bad)) < 0) {
            snprintf(why, len, "--endpoints: %s", bad);
            return -1;
        }
        if (endpoints_add(c, 0, norm) < 0) {
            snprintf(why, len, "--endpoints: at most %d URLs",
                     CTL_MAX_ENDPOINTS);
            return -1;
        }
    }
    if (c->n_eps == 0) {
        snprintf(why, len, "--endpoints: give at least one URL, "
                           "e.g. http://127.0.0.1:7001");
        return -1;
    }
    return 0;
}

int endpoints_from_config(struct ctl *c, const char *path, bool fill_eps,
                          char *why, size_t len)
{
    static struct raftd_config cfg; /* its strings live until exit */
    config_defaults(&cfg);
    if (config_load(&cfg, path, why, len) < 0)
        return -1;
    c->cfg = &cfg;
    for (unsigned i = 0; fill_eps && i < cfg.n_members; i++)
        endpoints_add(c, cfg.members[i].id, cfg.members[i].url);
    if (fill_eps && c->n_eps == 0) {
        snprintf(why, len, "%s lists no members: add them to its members "
                           "list, or name them with --endpoints", path);
        return -1;
    }
    if (!c->cacert && cfg.tls_ca_file)
        c->cacert = cfg.tls_ca_file;
    c->config_path = path;
    return 0;
}
