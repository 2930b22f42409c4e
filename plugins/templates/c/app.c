// {{name}}: a muster license rule. Members of `group` get `plan`, everyone else `default_plan`.
//
// Config: {"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}
//
// `muster plugin build-c` generates the bindings (license_rule.h) from wit/plugin.wit when it
// builds. The export owns its arguments and frees them; what it returns is malloc'd
// (license_rule_string_dup) and freed by the bindings after the host has read it. Returning
// false with `err` filled in fails this person with that error; the host goes on.
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "license_rule.h"

typedef license_rule_string_t string_t;

static const char *const FIELDS[] = {"group", "plan", "default_plan", NULL};

static bool fail(license_rule_plugin_error_t *err, const char *message) {
  license_rule_string_dup(&err->code, "invalid-config");
  license_rule_string_dup(&err->message, message);
  return false;
}

static bool equal(const uint8_t *a, size_t a_len, const char *b, size_t b_len) {
  return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

// Group names compare ignoring ASCII case, as muster's do.
static bool equal_ignoring_case(const uint8_t *a, size_t a_len, const char *b, size_t b_len) {
  if (a_len != b_len) return false;
  for (size_t i = 0; i < a_len; i++) {
    char x = (char)a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = (char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (char)(y + 32);
    if (x != y) return false;
  }
  return true;
}

// The configuration's strings, in FIELDS order: a misspelt, missing or non-string key is refused.
static bool parse_config(const json_value *doc, const json_string *out[], license_rule_plugin_error_t *err) {
  if (doc->kind != JSON_OBJECT) return fail(err, "expected a JSON object");
  for (size_t i = 0; i < doc->as.object.len; i++) {
    const json_string *key = &doc->as.object.members[i].key;
    bool known = false;
    for (size_t f = 0; FIELDS[f]; f++) known |= equal((const uint8_t *)key->ptr, key->len, FIELDS[f], strlen(FIELDS[f]));
    if (!known) {
      char message[300];
      snprintf(message, sizeof message, "unknown key \"%.*s\"; expected group, plan and default_plan", (int)key->len,
               key->ptr);
      return fail(err, message);
    }
  }
  for (size_t f = 0; FIELDS[f]; f++) {
    const json_value *value = json_get(doc, FIELDS[f]);
    if (!value || value->kind != JSON_STRING) return fail(err, "group, plan and default_plan must be strings");
    out[f] = &value->as.string;
  }
  return true;
}

static bool decide(const license_rule_person_t *person, const license_rule_license_t *current,
                   const json_string *cfg[], license_rule_license_decision_t *ret) {
  const json_string *group = cfg[0];
  bool member = false;
  for (size_t i = 0; i < person->transitive_groups.len; i++) {
    const string_t *name = &person->transitive_groups.ptr[i].display_name;
    member |= equal_ignoring_case(name->ptr, name->len, group->ptr, group->len);
  }
  const json_string *plan = member ? cfg[1] : cfg[2];
  char reason[512];
  snprintf(reason, sizeof reason, "%s %.*s", member ? "member of" : "not a member of", (int)group->len, group->ptr);
  if (current && current->add_ons.len == 0 && equal(current->plan.ptr, current->plan.len, plan->ptr, plan->len)) {
    ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_NO_CHANGE;
    license_rule_string_dup(&ret->val.no_change, reason);
    return true;
  }
  ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_ASSIGN;
  license_rule_string_dup_n(&ret->val.assign.license.plan, plan->ptr, plan->len);
  ret->val.assign.license.add_ons = (license_rule_list_string_t){NULL, 0};
  license_rule_string_dup(&ret->val.assign.reason, reason);
  return true;
}

bool exports_license_rule_decide(license_rule_person_t *person, license_rule_license_t *maybe_current,
                                 license_rule_string_t *config_text, license_rule_license_decision_t *ret,
                                 license_rule_plugin_error_t *err) {
  char why[256] = "";
  json_value *doc = json_parse((const char *)config_text->ptr, config_text->len, why, sizeof why);
  const json_string *cfg[3];
  bool ok;
  if (!doc) {
    char message[300];
    snprintf(message, sizeof message, "not JSON: %s", why);
    ok = fail(err, message);
  } else {
    ok = parse_config(doc, cfg, err) && decide(person, maybe_current, cfg, ret);
  }
  json_free(doc);
  license_rule_person_free(person);
  if (maybe_current) license_rule_license_free(maybe_current);
  license_rule_string_free(config_text);
  return ok;
}
