/* fuzz_json.h - "is this valid JSON?" for the fuzzers' checks of answers.
 *
 * cJSON parses it; but cJSON refuses nesting deeper than
 * CJSON_NESTING_LIMIT (1000), and a store may hold keys deeper than that,
 * whose recursive listing is deeper JSON: such a text counts as valid when
 * everything up to that depth parses, i.e. when cJSON fails only by the
 * limit (checked by counting brackets outside strings).
 */
#ifndef RAFTD_FUZZ_JSON_H
#define RAFTD_FUZZ_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

static inline size_t fuzz_json_depth(const char *s, size_t n)
{
    size_t depth = 0, max = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
    return max;
}

static inline bool fuzz_json_valid(const char *s, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(s, n);
    cJSON_Delete(j);
    return j != NULL || fuzz_json_depth(s, n) > CJSON_NESTING_LIMIT;
}

#endif
