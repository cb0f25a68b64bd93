/* fetch.c - raftctl's HTTP requests over one libcurl multi handle
 * (ctl.h): all members are asked at once, so a member that is down costs
 * one timeout, not one per member. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define BODY_MAX (16u << 20)

struct fetcher {
    const struct ctl *c;
    CURLM *multi;
    int running;
};

struct priv {
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    if (r->len + n > BODY_MAX)
        return 0; /* curl fails the transfer */
    char *p = realloc(r->body, r->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, ptr, n);
    r->len += n;
    p[r->len] = '\0';
    r->body = p;
    return n;
}

uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void reply_clear(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

struct fetcher *fetcher_new(const struct ctl *c)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        global_done = true;
    }
    struct fetcher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->c = c;
    f->multi = curl_multi_init();
    if (!f->multi) {
        free(f);
        return NULL;
    }
    return f;
}

static void request_end(struct fetcher *f, struct request *r)
{
    struct priv *p = r->priv;
    if (!p)
        return;
    curl_multi_remove_handle(f->multi, p->easy);
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    free(p);
    r->priv = NULL;
}

void fetcher_free(struct fetcher *f)
{
    if (!f)
        return;
    curl_multi_cleanup(f->multi); /* only at the end: requests still in */
    free(f);                      /* flight are left to the exit */
}

static void set_tls(const struct ctl *c, CURL *e)
{
    if (c->cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
    if (c->cert)
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert);
    if (c->key)
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key);
}

int fetcher_start(struct fetcher *f, struct request *r)
{
    reply_clear(&r->reply);
    struct priv *p = calloc(1, sizeof(*p));
    CURL *e = p ? curl_easy_init() : NULL;
    if (!e) {
        free(p);
        snprintf(r->reply.error, sizeof(r->reply.error), "out of memory");
        return -1;
    }
    p->easy = e;
    r->priv = p;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->reply);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* a member that is down shows within --timeout, long polls too */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, f->c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     r->timeout_ms ? r->timeout_ms : f->c->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    set_tls(f->c, e);
    if (r->method && strcmp(r->method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    if (r->content_type) {
        char h[200];
        snprintf(h, sizeof(h), "Content-Type: %s", r->content_type);
        p->headers = curl_slist_append(p->headers, h);
    }
    if (r->header)
        p->headers = curl_slist_append(p->headers, r->header);
    p->headers = curl_slist_append(p->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        request_end(f, r);
        snprintf(r->reply.error, sizeof(r->reply.error), "cannot start the "
                 "request");
        return -1;
    }
    f->running++;
    return 0;
}

static struct request *take_done(struct fetcher *f)
{
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct request *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        struct priv *p = r->priv;
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
                              &r->reply.status);
        } else {
            r->reply.status = 0;
            r->reply.curl_code = (int)m->data.result;
            snprintf(r->reply.error, sizeof(r->reply.error), "%s",
                     p->errbuf[0] ? p->errbuf
                                  : curl_easy_strerror(m->data.result));
        }
        request_end(f, r);
        f->running--;
        return r;
    }
    return NULL;
}

struct request *fetcher_next(struct fetcher *f, long wait_ms)
{
    struct request *r = take_done(f);
    if (r)
        return r;
    int still;
    curl_multi_perform(f->multi, &still);
    if ((r = take_done(f)))
        return r;
    curl_multi_poll(f->multi, NULL, 0, wait_ms > 0 ? (int)wait_ms : 0, NULL);
    curl_multi_perform(f->multi, &still);
    return take_done(f);
}

void fetch_all(const struct ctl *c, struct request *reqs, size_t n)
{
    struct fetcher *f = fetcher_new(c);
    if (!f) {
        for (size_t i = 0; i < n; i++)
            snprintf(reqs[i].reply.error, sizeof(reqs[i].reply.error),
                     "cannot start libcurl");
        return;
    }
    size_t pending = 0;
    for (size_t i = 0; i < n; i++)
        if (fetcher_start(f, &reqs[i]) == 0)
            pending++;
    while (pending > 0)
        if (fetcher_next(f, 1000))
            pending--;
    fetcher_free(f);
}

bool reply_unsent(const struct reply *r)
{
    return r->status == 0 && (r->curl_code == CURLE_COULDNT_CONNECT ||
                              r->curl_code == CURLE_COULDNT_RESOLVE_HOST);
}

cJSON *reply_json(const struct reply *r)
{
    return r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
}

void reply_why(const struct reply *r, char *why, size_t len)
{
    if (r->status == 0) {
        snprintf(why, len, "%s", r->error[0] ? r->error : "no answer");
        return;
    }
    cJSON *o = reply_json(r);
    const char *msg = json_string(o, "error");
    if (!msg)
        msg = json_string(o, "message");
    if (msg)
        snprintf(why, len, "HTTP %ld: %s", r->status, msg);
    else
        snprintf(why, len, "HTTP %ld%s%.200s", r->status,
                 r->body && r->len ? ": " : "", r->body ? r->body : "");
    cJSON_Delete(o);
    /* one line */
    for (char *p = why; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}
