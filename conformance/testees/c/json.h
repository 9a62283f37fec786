/*
 * json.h: a small, strict JSON reader (RFC 8259) and string writer for the C testee.
 *
 * json_parse builds a tree of json_value nodes that json_free releases in one call. Numbers keep
 * serde_json's distinctions, because the reference testee reads fields with `as_u64` / `as_i64`:
 * an integer literal that fits u64 is JSON_NUM_UINT, a negative one that fits i64 is
 * JSON_NUM_NEG, anything else (fraction, exponent, out of range) is JSON_NUM_FLOAT.
 * Strings are stored decoded, NUL-terminated, with their length (they may hold NUL bytes).
 */
#ifndef ZEROBUS_TESTEE_JSON_H
#define ZEROBUS_TESTEE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef enum json_num_kind { JSON_NUM_UINT, JSON_NUM_NEG, JSON_NUM_FLOAT } json_num_kind;

typedef struct json_value json_value;

typedef struct json_member {
    char *key;
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    bool boolean;
    struct {
        json_num_kind kind;
        uint64_t u; /* JSON_NUM_UINT */
        int64_t i;  /* JSON_NUM_NEG */
        double d;   /* every kind, as a double */
    } number;
    struct {
        char *data; /* NUL-terminated */
        size_t len;
    } string;
    struct {
        json_value **items;
        size_t count;
    } array;
    struct {
        json_member *members;
        size_t count;
    } object;
};

/* Parses exactly one JSON value (surrounded by optional whitespace) from `len` bytes. Returns
 * NULL on error and, if errbuf is not NULL, describes the error there. Free with json_free. */
json_value *json_parse(const char *text, size_t len, char *errbuf, size_t errlen);

/* Frees a tree from json_parse. NULL is a no-op. */
void json_free(json_value *v);

/* The member `key` of an object (the last one when a key repeats, like serde_json), or NULL if
 * `obj` is NULL, not an object, or has no such member. */
const json_value *json_get(const json_value *obj, const char *key);

/* Element `i` of an array, or NULL. */
const json_value *json_at(const json_value *arr, size_t i);

/* Number of elements of an array (0 for anything else). */
size_t json_len(const json_value *arr);

/* serde_json's as_u64 / as_i64 / as_bool / as_str: false (NULL) when the value has another type
 * or does not fit. */
bool json_as_u64(const json_value *v, uint64_t *out);
bool json_as_i64(const json_value *v, int64_t *out);
bool json_as_bool(const json_value *v, bool *out);
const char *json_as_str(const json_value *v, size_t *len);

/* Whether `v` is a string equal to `s`. */
bool json_str_eq(const json_value *v, const char *s);

/* Checks that `len` bytes are well-formed UTF-8. */
bool json_utf8_valid(const unsigned char *s, size_t len);

/* A growable output buffer. */
typedef struct json_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed; the contents are incomplete */
} json_buf;

void json_buf_append(json_buf *b, const char *s, size_t len);
void json_buf_puts(json_buf *b, const char *s);
void json_buf_printf(json_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void json_buf_free(json_buf *b);

/* Appends `len` bytes as a quoted JSON string. Invalid UTF-8 sequences become U+FFFD, like
 * Rust's String::from_utf8_lossy. */
void json_buf_string(json_buf *b, const char *s, size_t len);

/* Appends the value serialized compactly (numbers as parsed; strings escaped). */
void json_buf_value(json_buf *b, const json_value *v);

#endif /* ZEROBUS_TESTEE_JSON_H */
