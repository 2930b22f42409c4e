// {{name}}: a muster transformer. Sets the SCIM enterprise `department` from the first direct
// group whose name starts with `prefix` (`Dept-Finance` -> `Finance`), and removes it from
// someone in no such group.
//
// Config: {"prefix": "Dept-"}
//
// `muster plugin build-c` generates the bindings (transformer.h) from wit/plugin.wit
// (muster:plugin@0.2.0) when it builds. The export owns its arguments and frees them; what it
// returns is malloc'd (transformer_string_dup, malloc for lists) and freed by the bindings after
// the host has read it. Returning false with `err` filled in fails this person with that error;
// the host goes on.
//
// The department is a well-known target attribute: the SCIM enterprise extension's
// `department` arrives as `well-known(department)` however the mappings spell its path, and is
// set and removed the same way. Any other SCIM path is a `path(string)` target path.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "transformer.h"

typedef transformer_string_t string_t;

static bool fail(transformer_plugin_error_t *err, const char *code, const char *message) {
  transformer_string_dup(&err->code, code);
  transformer_string_dup(&err->message, message);
  return false;
}

static bool equal(const uint8_t *a, size_t a_len, const char *b, size_t b_len) {
  return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

// `prefix`, the configuration's one key: another key, or a prefix that is not a string, is refused.
static bool parse_config(const json_value *doc, const json_string **prefix, transformer_plugin_error_t *err) {
  if (doc->kind != JSON_OBJECT) return fail(err, "invalid-config", "expected a JSON object");
  for (size_t i = 0; i < doc->as.object.len; i++) {
    const json_string *key = &doc->as.object.members[i].key;
    if (!equal((const uint8_t *)key->ptr, key->len, "prefix", 6)) {
      char message[300];
      snprintf(message, sizeof message, "unknown key \"%.*s\"; expected prefix", (int)key->len, key->ptr);
      return fail(err, "invalid-config", message);
    }
  }
  const json_value *value = json_get(doc, "prefix");
  if (!value || value->kind != JSON_STRING) return fail(err, "invalid-config", "prefix must be a string");
  *prefix = &value->as.string;
  return true;
}

// Whether a target attribute's path is the well-known `department`.
static bool is_department(const muster_plugin_types_target_path_t *path) {
  return path->tag == MUSTER_PLUGIN_TYPES_TARGET_PATH_WELL_KNOWN &&
         path->val.well_known == MUSTER_PLUGIN_TYPES_WELL_KNOWN_DEPARTMENT;
}

static bool transform(const transformer_person_t *person, const json_string *prefix, transformer_outcome_t *ret,
                      transformer_plugin_error_t *err) {
  // The department: what follows the prefix in the first direct group that has one (`groups`
  // holds groups reached through nesting too, with `direct` false).
  const string_t *department = NULL;
  size_t skip = prefix->len;
  for (size_t i = 0; i < person->groups.len && !department; i++) {
    const muster_plugin_types_group_t *group = &person->groups.ptr[i];
    const string_t *name = &group->display_name;
    if (group->direct && name->len > skip && memcmp(name->ptr, prefix->ptr, skip) == 0) department = name;
  }
  // The department computed so far, if any.
  const muster_plugin_types_value_t *current = NULL;
  for (size_t i = 0; i < person->target.len; i++) {
    const muster_plugin_types_target_attribute_t *attribute = &person->target.ptr[i];
    if (is_department(&attribute->path)) current = &attribute->value;
  }
  ret->tag = MUSTER_PLUGIN_TYPES_OUTCOME_CHANGES;
  muster_plugin_types_changes_t *changes = &ret->val.changes;
  *changes = (muster_plugin_types_changes_t){0};
  const muster_plugin_types_target_path_t path = {
      .tag = MUSTER_PLUGIN_TYPES_TARGET_PATH_WELL_KNOWN,
      .val.well_known = MUSTER_PLUGIN_TYPES_WELL_KNOWN_DEPARTMENT,
  };
  if (department) {
    const uint8_t *value = department->ptr + skip;
    size_t len = department->len - skip;
    bool same = current && current->tag == MUSTER_PLUGIN_TYPES_VALUE_TEXT &&
                equal(current->val.text.ptr, current->val.text.len, (const char *)value, len);
    if (same) return true;
    muster_plugin_types_target_attribute_t *set = malloc(sizeof *set);
    if (!set) return fail(err, "out-of-memory", "out of memory");
    set->path = path;
    set->value.tag = MUSTER_PLUGIN_TYPES_VALUE_TEXT;
    transformer_string_dup_n(&set->value.val.text, (const char *)value, len);
    changes->set = (muster_plugin_types_list_target_attribute_t){set, 1};
  } else if (current) {
    muster_plugin_types_target_path_t *remove = malloc(sizeof *remove);
    if (!remove) return fail(err, "out-of-memory", "out of memory");
    *remove = path;
    changes->remove = (muster_plugin_types_list_target_path_t){remove, 1};
  }
  return true;
}

bool exports_transformer_transform(transformer_person_t *person, transformer_string_t *config_text,
                                   transformer_outcome_t *ret, transformer_plugin_error_t *err) {
  char why[256] = "";
  json_value *doc = json_parse((const char *)config_text->ptr, config_text->len, why, sizeof why);
  const json_string *prefix = NULL;
  bool ok;
  if (!doc) {
    char message[300];
    snprintf(message, sizeof message, "not JSON: %s", why);
    ok = fail(err, "invalid-config", message);
  } else {
    ok = parse_config(doc, &prefix, err) && transform(person, prefix, ret, err);
  }
  json_free(doc);
  transformer_person_free(person);
  transformer_string_free(config_text);
  return ok;
}
