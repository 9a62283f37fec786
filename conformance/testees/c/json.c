/*
 * json.c: see json.h. Strict RFC 8259 parsing (what serde_json accepts for the testee's
 * requests), bounded nesting, every allocation checked.
 */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting is an error rather than a stack overflow (serde_json's limit is 128). */
#define JSON_MAX_DEPTH 128

typedef struct parser {
    const char *start;
    const char *p;
    const char *end;
    char *err;
    size_t errlen;
    int depth;
} parser;

static void fail(parser *ps, const char *what) {
    if (ps->err != NULL && ps->errlen > 0 && ps->err[0] == '\0') {
        snprintf(ps->err, ps->errlen, "%s at byte %lu", what, (unsigned long)(ps->p - ps->start));
    }
}

static json_value *new_value(parser *ps, json_type type) {
    json_value *v = calloc(1, sizeof *v);
    if (v == NULL) {
        fail(ps, "out of memory");
        return NULL;
    }
    v->type = type;
    return v;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail(ps, "invalid literal");
        return false;
    }
    ps->p += n;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser *ps, unsigned *out) {
    unsigned v = 0;
    int i;
    if (ps->end - ps->p < 4) {
        fail(ps, "truncated \\u escape");
        return false;
    }
    for (i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[i]);
        if (d < 0) {
            fail(ps, "invalid \\u escape");
            return false;
        }
        v = v * 16 + (unsigned)d;
    }
    ps->p += 4;
    *out = v;
    return true;
}

/* Appends a code point as UTF-8 (cp is a valid scalar value). */
static void put_utf8(char *out, size_t *n, unsigned long cp) {
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0 if it is not well-formed; on 0,
 * *bad is the length of the maximal invalid subpart (at least 1), as from_utf8_lossy counts. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *bad) {
    unsigned char c = s[0];
    size_t need, i;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (i = 1; i < need; i++) {
        unsigned char lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xBF;
        if (i >= len || s[i] < lower || s[i] > upper) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

bool json_utf8_valid(const unsigned char *s, size_t len) {
    size_t i = 0, bad;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i, &bad);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

static json_value *parse_string(parser *ps) {
    /* Decoded text is never longer than its source (an escape never decodes to more bytes than
     * it is written with), so a buffer as long as the quoted span is enough. */
    const char *start = ps->p + 1; /* after the opening quote */
    const char *q = start;
    size_t cap, n = 0;
    char *out;
    json_value *v;
    /* Find the closing quote to size the buffer. */
    while (q < ps->end && *q != '"') {
        if (*q == '\\') q++;
        q++;
    }
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    cap = (size_t)(q - start) + 1;
    out = malloc(cap);
    if (out == NULL) {
        fail(ps, "out of memory");
        return NULL;
    }
    ps->p = start;
    for (;;) {
        unsigned char c;
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            goto error;
        }
        c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail(ps, "control character in string");
            goto error;
        }
        if (c == '\\') {
            char e;
            ps->p++;
            if (ps->p >= ps->end) {
                fail(ps, "unterminated escape");
                goto error;
            }
            e = *ps->p++;
            switch (e) {
            case '"': out[n++] = '"'; break;
            case '\\': out[n++] = '\\'; break;
            case '/': out[n++] = '/'; break;
            case 'b': out[n++] = '\b'; break;
            case 'f': out[n++] = '\f'; break;
            case 'n': out[n++] = '\n'; break;
            case 'r': out[n++] = '\r'; break;
            case 't': out[n++] = '\t'; break;
            case 'u': {
                unsigned hi, lo;
                unsigned long cp;
                if (!read_hex4(ps, &hi)) goto error;
                if (hi >= 0xDC00 && hi <= 0xDFFF) {
                    fail(ps, "lone trailing surrogate in \\u escape");
                    goto error;
                }
                if (hi >= 0xD800 && hi <= 0xDBFF) {
                    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                        fail(ps, "lone leading surrogate in \\u escape");
                        goto error;
                    }
                    ps->p += 2;
                    if (!read_hex4(ps, &lo)) goto error;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail(ps, "invalid surrogate pair in \\u escape");
                        goto error;
                    }
                    cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                } else {
                    cp = hi;
                }
                /* A \u escape (6 or 12 source bytes) never decodes to more bytes than it took. */
                put_utf8(out, &n, cp);
                break;
            }
            default:
                fail(ps, "invalid escape");
                goto error;
            }
        } else {
            size_t bad, len = utf8_seq((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &bad);
            if (len == 0) {
                fail(ps, "invalid UTF-8 in string");
                goto error;
            }
            memcpy(out + n, ps->p, len);
            n += len;
            ps->p += len;
        }
    }
    out[n] = '\0';
    v = new_value(ps, JSON_STRING);
    if (v == NULL) goto error;
    v->string.data = out;
    v->string.len = n;
    return v;
error:
    free(out);
    return NULL;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static json_value *parse_number(parser *ps) {
    const char *start = ps->p;
    bool negative = false, integer = true;
    json_value *v;
    if (ps->p < ps->end && *ps->p == '-') {
        negative = true;
        ps->p++;
    }
    if (ps->p >= ps->end || !is_digit(*ps->p)) {
        fail(ps, "invalid number");
        return NULL;
    }
    if (*ps->p == '0') {
        ps->p++;
    } else {
        while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        integer = false;
        ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p)) {
            fail(ps, "invalid number");
            return NULL;
        }
        while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integer = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p)) {
            fail(ps, "invalid number");
            return NULL;
        }
        while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
    }
    v = new_value(ps, JSON_NUMBER);
    if (v == NULL) return NULL;
    {
        /* strtod/strtoull need a terminated copy: the input is not NUL-terminated. */
        char small[64];
        size_t n = (size_t)(ps->p - start);
        char *copy = n < sizeof small ? small : malloc(n + 1);
        if (copy == NULL) {
            free(v);
            fail(ps, "out of memory");
            return NULL;
        }
        memcpy(copy, start, n);
        copy[n] = '\0';
        v->number.kind = JSON_NUM_FLOAT;
        v->number.d = strtod(copy, NULL);
        if (integer) {
            /* Digits only (after an optional '-'): exact integer if it fits. */
            const char *digits = copy + (negative ? 1 : 0);
            uint64_t mag = 0;
            bool fits = true;
            const char *d;
            for (d = digits; *d != '\0'; d++) {
                unsigned digit = (unsigned)(*d - '0');
                if (mag > (UINT64_MAX - digit) / 10) {
                    fits = false;
                    break;
                }
                mag = mag * 10 + digit;
            }
            if (fits && !negative) {
                v->number.kind = JSON_NUM_UINT;
                v->number.u = mag;
            } else if (fits && negative && mag == 0) {
                v->number.kind = JSON_NUM_FLOAT; /* -0: serde_json keeps it as a float */
                v->number.d = -0.0;
            } else if (fits && negative && mag <= (uint64_t)INT64_MAX + 1) {
                v->number.kind = JSON_NUM_NEG;
                v->number.i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
            }
        }
        if (copy != small) free(copy);
    }
    return v;
}

static json_value *parse_value(parser *ps);

static json_value *parse_array(parser *ps) {
    json_value *v = new_value(ps, JSON_ARRAY);
    size_t cap = 0;
    if (v == NULL) return NULL;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return v;
    }
    for (;;) {
        json_value *item = parse_value(ps);
        if (item == NULL) goto error;
        if (v->array.count == cap) {
            size_t ncap = cap == 0 ? 4 : cap * 2;
            json_value **items = realloc(v->array.items, ncap * sizeof *items);
            if (items == NULL) {
                json_free(item);
                fail(ps, "out of memory");
                goto error;
            }
            v->array.items = items;
            cap = ncap;
        }
        v->array.items[v->array.count++] = item;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return v;
        }
        fail(ps, "expected ',' or ']'");
        goto error;
    }
error:
    json_free(v);
    return NULL;
}

static json_value *parse_object(parser *ps) {
    json_value *v = new_value(ps, JSON_OBJECT);
    size_t cap = 0;
    if (v == NULL) return NULL;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return v;
    }
    for (;;) {
        json_value *key, *value;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, "expected a string key");
            goto error;
        }
        key = parse_string(ps);
        if (key == NULL) goto error;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            json_free(key);
            fail(ps, "expected ':'");
            goto error;
        }
        ps->p++;
        value = parse_value(ps);
        if (value == NULL) {
            json_free(key);
            goto error;
        }
        if (v->object.count == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            json_member *members = realloc(v->object.members, ncap * sizeof *members);
            if (members == NULL) {
                json_free(key);
                json_free(value);
                fail(ps, "out of memory");
                goto error;
            }
            v->object.members = members;
            cap = ncap;
        }
        /* Keep the decoded key text; free only the node that carried it. */
        v->object.members[v->object.count].key = key->string.data;
        v->object.members[v->object.count].key_len = key->string.len;
        v->object.members[v->object.count].value = value;
        v->object.count++;
        free(key);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return v;
        }
        fail(ps, "expected ',' or '}'");
        goto error;
    }
error:
    json_free(v);
    return NULL;
}

static json_value *parse_value(parser *ps) {
    json_value *v = NULL;
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    if (++ps->depth > JSON_MAX_DEPTH) {
        fail(ps, "nesting too deep");
        return NULL;
    }
    switch (*ps->p) {
    case '{': v = parse_object(ps); break;
    case '[': v = parse_array(ps); break;
    case '"': v = parse_string(ps); break;
    case 't':
        if (literal(ps, "true") && (v = new_value(ps, JSON_BOOL)) != NULL) v->boolean = true;
        break;
    case 'f':
        if (literal(ps, "false") && (v = new_value(ps, JSON_BOOL)) != NULL) v->boolean = false;
        break;
    case 'n':
        if (literal(ps, "null")) v = new_value(ps, JSON_NULL);
        break;
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) {
            v = parse_number(ps);
        } else {
            fail(ps, "unexpected character");
        }
    }
    ps->depth--;
    return v;
}

json_value *json_parse(const char *text, size_t len, char *errbuf, size_t errlen) {
    parser ps;
    json_value *v;
    ps.start = text;
    ps.p = text;
    ps.end = text + len;
    ps.err = errbuf;
    ps.errlen = errlen;
    ps.depth = 0;
    if (errbuf != NULL && errlen > 0) errbuf[0] = '\0';
    v = parse_value(&ps);
    if (v == NULL) return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing characters");
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(json_value *v) {
    size_t i;
    if (v == NULL) return;
    switch (v->type) {
    case JSON_STRING: free(v->string.data); break;
    case JSON_ARRAY:
        for (i = 0; i < v->array.count; i++) json_free(v->array.items[i]);
        free(v->array.items);
        break;
    case JSON_OBJECT:
        for (i = 0; i < v->object.count; i++) {
            free(v->object.members[i].key);
            json_free(v->object.members[i].value);
        }
        free(v->object.members);
        break;
    default: break;
    }
    free(v);
}

const json_value *json_get(const json_value *obj, const char *key) {
    size_t i, klen;
    if (obj == NULL || obj->type != JSON_OBJECT) return NULL;
    klen = strlen(key);
    for (i = obj->object.count; i > 0; i--) {
        const json_member *m = &obj->object.members[i - 1];
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0) return m->value;
    }
    return NULL;
}

const json_value *json_at(const json_value *arr, size_t i) {
    if (arr == NULL || arr->type != JSON_ARRAY || i >= arr->array.count) return NULL;
    return arr->array.items[i];
}

size_t json_len(const json_value *arr) {
    return arr != NULL && arr->type == JSON_ARRAY ? arr->array.count : 0;
}

bool json_as_u64(const json_value *v, uint64_t *out) {
    if (v == NULL || v->type != JSON_NUMBER || v->number.kind != JSON_NUM_UINT) return false;
    *out = v->number.u;
    return true;
}

bool json_as_i64(const json_value *v, int64_t *out) {
    if (v == NULL || v->type != JSON_NUMBER) return false;
    if (v->number.kind == JSON_NUM_NEG) {
        *out = v->number.i;
        return true;
    }
    if (v->number.kind == JSON_NUM_UINT && v->number.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->number.u;
        return true;
    }
    return false;
}

bool json_as_bool(const json_value *v, bool *out) {
    if (v == NULL || v->type != JSON_BOOL) return false;
    *out = v->boolean;
    return true;
}

const char *json_as_str(const json_value *v, size_t *len) {
    if (v == NULL || v->type != JSON_STRING) return NULL;
    if (len != NULL) *len = v->string.len;
    return v->string.data;
}

bool json_str_eq(const json_value *v, const char *s) {
    size_t n = strlen(s);
    return v != NULL && v->type == JSON_STRING && v->string.len == n && memcmp(v->string.data, s, n) == 0;
}

/* ---- output ---- */

static bool reserve(json_buf *b, size_t extra) {
    size_t need, cap;
    char *data;
    if (b->failed) return false;
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = true;
        return false;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) return true;
    cap = b->cap == 0 ? 256 : b->cap;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    data = realloc(b->data, cap);
    if (data == NULL) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void json_buf_append(json_buf *b, const char *s, size_t len) {
    if (!reserve(b, len)) return;
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void json_buf_puts(json_buf *b, const char *s) {
    json_buf_append(b, s, strlen(s));
}

void json_buf_printf(json_buf *b, const char *fmt, ...) {
    va_list ap;
    int n;
    char small[128];
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        json_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void json_buf_free(json_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void json_buf_string(json_buf *b, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    json_buf_append(b, "\"", 1);
    while (i < len) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char tmp[8];
        size_t n, bad;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
                esc = tmp;
            }
        }
        if (esc != NULL) {
            json_buf_append(b, s + run, i - run);
            json_buf_puts(b, esc);
            i++;
            run = i;
            continue;
        }
        n = utf8_seq(u + i, len - i, &bad);
        if (n == 0) {
            json_buf_append(b, s + run, i - run);
            json_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i += bad;
            run = i;
            continue;
        }
        i += n;
    }
    json_buf_append(b, s + run, len - run);
    json_buf_append(b, "\"", 1);
}

void json_buf_value(json_buf *b, const json_value *v) {
    size_t i;
    if (v == NULL) {
        json_buf_puts(b, "null");
        return;
    }
    switch (v->type) {
    case JSON_NULL: json_buf_puts(b, "null"); break;
    case JSON_BOOL: json_buf_puts(b, v->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->number.kind == JSON_NUM_UINT) {
            json_buf_printf(b, "%" PRIu64, v->number.u);
        } else if (v->number.kind == JSON_NUM_NEG) {
            json_buf_printf(b, "%" PRId64, v->number.i);
        } else if (v->number.d != v->number.d || v->number.d - v->number.d != 0) {
            json_buf_puts(b, "null"); /* NaN or infinite: not representable, as serde_json */
        } else {
            json_buf_printf(b, "%.17g", v->number.d);
        }
        break;
    case JSON_STRING: json_buf_string(b, v->string.data, v->string.len); break;
    case JSON_ARRAY:
        json_buf_puts(b, "[");
        for (i = 0; i < v->array.count; i++) {
            if (i > 0) json_buf_puts(b, ",");
            json_buf_value(b, v->array.items[i]);
        }
        json_buf_puts(b, "]");
        break;
    case JSON_OBJECT:
        json_buf_puts(b, "{");
        for (i = 0; i < v->object.count; i++) {
            if (i > 0) json_buf_puts(b, ",");
            json_buf_string(b, v->object.members[i].key, v->object.members[i].key_len);
            json_buf_puts(b, ":");
            json_buf_value(b, v->object.members[i].value);
        }
        json_buf_puts(b, "}");
        break;
    }
}
