// The JSON reader declared in json.h.
#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
  const char *p;
  const char *end;
  const char *start;
  char *error;
  size_t error_size;
  bool failed;
} reader;

static void fail(reader *r, const char *format, ...) {
  if (r->failed) return;
  r->failed = true;
  int at = snprintf(r->error, r->error_size, "at byte %zu: ", (size_t)(r->p - r->start));
  if (at < 0 || (size_t)at >= r->error_size) return;
  va_list args;
  va_start(args, format);
  vsnprintf(r->error + at, r->error_size - (size_t)at, format, args);
  va_end(args);
}

static void skip_space(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static bool literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

// Appends `c` as UTF-8; `out` has room for 4 more bytes.
static char *put_utf8(char *out, uint32_t c) {
  if (c < 0x80) {
    *out++ = (char)c;
  } else if (c < 0x800) {
    *out++ = (char)(0xC0 | (c >> 6));
    *out++ = (char)(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    *out++ = (char)(0xE0 | (c >> 12));
    *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
    *out++ = (char)(0x80 | (c & 0x3F));
  } else {
    *out++ = (char)(0xF0 | (c >> 18));
    *out++ = (char)(0x80 | ((c >> 12) & 0x3F));
    *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
    *out++ = (char)(0x80 | (c & 0x3F));
  }
  return out;
}

static bool hex4(reader *r, uint32_t *out) {
  if (r->end - r->p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *r->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return false;
  }
  *out = v;
  return true;
}

// Reads a string after its opening quote. Decoded text is never longer than its source.
static bool read_string(reader *r, json_string *out) {
  const char *from = r->p;
  char *text = malloc((size_t)(r->end - from) + 1);
  if (!text) {
    fail(r, "out of memory");
    return false;
  }
  char *w = text;
  while (r->p < r->end && *r->p != '"') {
    unsigned char c = (unsigned char)*r->p;
    if (c < 0x20) {
      fail(r, "control character in a string");
      free(text);
      return false;
    }
    if (c != '\\') {
      *w++ = (char)c;
      r->p++;
      continue;
    }
    r->p++;
    if (r->p >= r->end) break;
    char e = *r->p++;
    switch (e) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        uint32_t code;
        if (!hex4(r, &code)) {
          fail(r, "bad \\u escape");
          free(text);
          return false;
        }
        if (code >= 0xD800 && code <= 0xDBFF) {
          uint32_t low;
          if (!(literal(r, "\\u") && hex4(r, &low) && low >= 0xDC00 && low <= 0xDFFF)) {
            fail(r, "unpaired surrogate in a \\u escape");
            free(text);
            return false;
          }
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        } else if (code >= 0xDC00 && code <= 0xDFFF) {
          fail(r, "unpaired surrogate in a \\u escape");
          free(text);
          return false;
        }
        w = put_utf8(w, code);
        break;
      }
      default:
        fail(r, "bad escape \\%c", e);
        free(text);
        return false;
    }
  }
  if (r->p >= r->end) {
    fail(r, "unterminated string");
    free(text);
    return false;
  }
  r->p++;
  *w = '\0';
  out->ptr = text;
  out->len = (size_t)(w - text);
  return true;
}

static json_value *read_value(reader *r, int depth);

static json_value *new_value(reader *r, json_kind kind) {
  json_value *v = calloc(1, sizeof *v);
  if (!v) fail(r, "out of memory");
  else v->kind = kind;
  return v;
}

// Grows `*items` (of `size`-byte elements) to hold one more than `len`.
static bool grow(reader *r, void **items, size_t len, size_t *cap, size_t size) {
  if (len < *cap) return true;
  size_t next = *cap ? *cap * 2 : 4;
  void *bigger = realloc(*items, next * size);
  if (!bigger) {
    fail(r, "out of memory");
    return false;
  }
  *items = bigger;
  *cap = next;
  return true;
}

static json_value *read_array(reader *r, int depth) {
  json_value *v = new_value(r, JSON_ARRAY);
  if (!v) return NULL;
  size_t cap = 0;
  skip_space(r);
  if (r->p < r->end && *r->p == ']') {
    r->p++;
    return v;
  }
  for (;;) {
    json_value *item = read_value(r, depth + 1);
    if (!item || !grow(r, (void **)&v->as.array.items, v->as.array.len, &cap, sizeof(json_value *))) {
      json_free(item);
      json_free(v);
      return NULL;
    }
    v->as.array.items[v->as.array.len++] = item;
    skip_space(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
    } else if (r->p < r->end && *r->p == ']') {
      r->p++;
      return v;
    } else {
      fail(r, "expected `,` or `]` in a list");
      json_free(v);
      return NULL;
    }
  }
}

static json_value *read_object(reader *r, int depth) {
  json_value *v = new_value(r, JSON_OBJECT);
  if (!v) return NULL;
  size_t cap = 0;
  skip_space(r);
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    return v;
  }
  for (;;) {
    skip_space(r);
    json_string key;
    if (r->p >= r->end || *r->p != '"') {
      fail(r, "expected a quoted key in an object");
      json_free(v);
      return NULL;
    }
    r->p++;
    if (!read_string(r, &key)) {
      json_free(v);
      return NULL;
    }
    skip_space(r);
    if (r->p >= r->end || *r->p != ':') {
      fail(r, "expected `:` after the key \"%s\"", key.ptr);
      free(key.ptr);
      json_free(v);
      return NULL;
    }
    r->p++;
    json_value *value = read_value(r, depth + 1);
    if (!value || !grow(r, (void **)&v->as.object.members, v->as.object.len, &cap, sizeof(json_member))) {
      free(key.ptr);
      json_free(value);
      json_free(v);
      return NULL;
    }
    v->as.object.members[v->as.object.len++] = (json_member){key, value};
    skip_space(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
    } else if (r->p < r->end && *r->p == '}') {
      r->p++;
      return v;
    } else {
      fail(r, "expected `,` or `}` in an object");
      json_free(v);
      return NULL;
    }
  }
}

static json_value *read_number(reader *r) {
  const char *from = r->p;
  if (r->p < r->end && *r->p == '-') r->p++;
  size_t digits = 0;
  bool leading_zero = r->p < r->end && *r->p == '0';
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++, digits++;
  if (digits == 0 || (leading_zero && digits > 1)) {
    fail(r, "bad number");
    return NULL;
  }
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    digits = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++, digits++;
    if (digits == 0) {
      fail(r, "bad number");
      return NULL;
    }
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    digits = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++, digits++;
    if (digits == 0) {
      fail(r, "bad number");
      return NULL;
    }
  }
  char buffer[64];
  size_t n = (size_t)(r->p - from);
  json_value *v = new_value(r, JSON_NUMBER);
  if (!v) return NULL;
  // The number only has to be told apart from other kinds; very long ones are cut for strtod.
  if (n >= sizeof buffer) n = sizeof buffer - 1;
  memcpy(buffer, from, n);
  buffer[n] = '\0';
  v->as.number = strtod(buffer, NULL);
  return v;
}

static json_value *read_value(reader *r, int depth) {
  if (depth > MAX_DEPTH) {
    fail(r, "nested deeper than %d levels", MAX_DEPTH);
    return NULL;
  }
  skip_space(r);
  if (r->p >= r->end) {
    fail(r, "unexpected end of input");
    return NULL;
  }
  json_value *v;
  switch (*r->p) {
    case '{': r->p++; return read_object(r, depth);
    case '[': r->p++; return read_array(r, depth);
    case '"':
      r->p++;
      v = new_value(r, JSON_STRING);
      if (v && !read_string(r, &v->as.string)) {
        free(v);
        return NULL;
      }
      return v;
    case 't':
    case 'f': {
      bool is_true = literal(r, "true");
      if (is_true || literal(r, "false")) {
        v = new_value(r, JSON_BOOL);
        if (v) v->as.boolean = is_true;
        return v;
      }
      break;
    }
    case 'n':
      if (literal(r, "null")) return new_value(r, JSON_NULL);
      break;
    default:
      if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return read_number(r);
  }
  fail(r, "expected a value");
  return NULL;
}

json_value *json_parse(const char *text, size_t len, char *error, size_t error_size) {
  reader r = {text, text + len, text, error, error_size, false};
  json_value *v = read_value(&r, 0);
  skip_space(&r);
  if (v && r.p != r.end) {
    fail(&r, "trailing characters after the document");
    json_free(v);
    return NULL;
  }
  return v;
}

json_value *json_get(const json_value *object, const char *key) {
  if (object->kind != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (size_t i = 0; i < object->as.object.len; i++) {
    const json_string *k = &object->as.object.members[i].key;
    if (k->len == n && memcmp(k->ptr, key, n) == 0) return object->as.object.members[i].value;
  }
  return NULL;
}

const char *json_kind_name(json_kind kind) {
  switch (kind) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "a list";
    case JSON_OBJECT: return "an object";
  }
  return "a value";
}

void json_free(json_value *v) {
  if (!v) return;
  switch (v->kind) {
    case JSON_STRING: free(v->as.string.ptr); break;
    case JSON_ARRAY:
      for (size_t i = 0; i < v->as.array.len; i++) json_free(v->as.array.items[i]);
      free(v->as.array.items);
      break;
    case JSON_OBJECT:
      for (size_t i = 0; i < v->as.object.len; i++) {
        free(v->as.object.members[i].key.ptr);
        json_free(v->as.object.members[i].value);
      }
      free(v->as.object.members);
      break;
    default: break;
  }
  free(v);
}
