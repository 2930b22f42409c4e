// A small JSON reader for plugin configurations: the whole document into a tree.
//
// Written by hand because wasi-libc has no JSON library and a plugin's configuration is a few
// hundred bytes: strict RFC 8259 (no trailing commas, no comments, escapes and surrogate pairs
// decoded to UTF-8), nesting limited to 64 levels.
#ifndef MUSTER_JSON_H
#define MUSTER_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_kind;

typedef struct json_value json_value;

// A string: UTF-8, NUL-terminated (`len` excludes the NUL; the text may hold NULs of its own).
typedef struct {
  char *ptr;
  size_t len;
} json_string;

typedef struct {
  json_string key;
  json_value *value;
} json_member;

struct json_value {
  json_kind kind;
  union {
    bool boolean;
    double number;
    json_string string;
    struct {
      json_value **items;
      size_t len;
    } array;
    struct {
      json_member *members;
      size_t len;
    } object;
  } as;
};

// Parses `len` bytes. On failure returns NULL and writes a message into `error`.
json_value *json_parse(const char *text, size_t len, char *error, size_t error_size);

// The member named `key` of an object, or NULL.
json_value *json_get(const json_value *object, const char *key);

// What a kind is called in messages ("a string", "an object", ...).
const char *json_kind_name(json_kind kind);

void json_free(json_value *value);

#endif
