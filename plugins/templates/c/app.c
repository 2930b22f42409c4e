// {{name}}: a muster license rule. Members of `group` get `plan`, everyone else `default_plan`.
//
// Config: {"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}
//
// `muster plugin build-c` generates the bindings (license_rule.h) from wit/plugin.wit
// (muster:plugin@0.2.0) when it builds. The export owns its arguments and frees them; what it
// returns is malloc'd (license_rule_string_dup) and freed by the bindings after the host has
// read it; an empty list goes back as {NULL, 0}. Returning false with `err` filled in fails this
// person with that error; the host goes on.
#include <stdio.h>
#include <stdlib.h>
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

// The fact a decision rests on: `Zoom-Licensed` for a direct group, `Zoom-Licensed ← Sales` for
// one reached through the direct group Sales.
static void group_path(const muster_plugin_types_group_t *group, string_t *out) {
  const string_t *name = &group->display_name, *via = &group->via.val;
  if (!group->via.is_some) {
    license_rule_string_dup_n(out, (const char *)name->ptr, name->len);
    return;
  }
  static const char ARROW[] = " \xE2\x86\x90 "; // U+2190 LEFTWARDS ARROW, in UTF-8
  size_t arrow = sizeof ARROW - 1;
  out->len = name->len + arrow + via->len;
  out->ptr = malloc(out->len);
  if (!out->ptr) abort(); // as the bindings do when they run out of memory
  memcpy(out->ptr, name->ptr, name->len);
  memcpy(out->ptr + name->len, ARROW, arrow);
  memcpy(out->ptr + name->len + arrow, via->ptr, via->len);
}

static bool decide(const license_rule_person_t *person, const license_rule_license_t *current,
                   const json_string *cfg[], license_rule_license_decision_t *ret) {
  const json_string *group = cfg[0];
  // `groups` holds every group the person is in, direct or through nesting (`direct` tells).
  const muster_plugin_types_group_t *found = NULL;
  for (size_t i = 0; i < person->groups.len && !found; i++) {
    const string_t *name = &person->groups.ptr[i].display_name;
    if (equal_ignoring_case(name->ptr, name->len, group->ptr, group->len)) found = &person->groups.ptr[i];
  }
  const json_string *plan = found ? cfg[1] : cfg[2];
  char text[512];
  snprintf(text, sizeof text, "%s %.*s", found ? "member of" : "not a member of", (int)group->len, group->ptr);
  // Why: the sentence, the rule (empty: this plugin has one) and the facts it rests on.
  muster_plugin_types_reason_t reason = {0};
  license_rule_string_dup(&reason.text, text);
  if (found) {
    string_t *because = malloc(sizeof *because);
    if (!because) abort();
    group_path(found, because);
    reason.because = (license_rule_list_string_t){because, 1};
  }
  if (current && current->add_ons.len == 0 && equal(current->plan.ptr, current->plan.len, plan->ptr, plan->len)) {
    ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_NO_CHANGE;
    ret->val.no_change = reason;
    return true;
  }
  ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_ASSIGN;
  license_rule_string_dup_n(&ret->val.assign.license.plan, plan->ptr, plan->len);
  ret->val.assign.license.add_ons = (license_rule_list_string_t){NULL, 0};
  ret->val.assign.reason = reason;
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
