// license-by-group, in C: decides a Zoom license from the groups a person is in.
//
// The same rule and the same configuration as the Rust `plugins/license-by-group`:
//
//   {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"},
//              {"group": "Zoom-Phone", "add_on": "phone"}],
//    "default_plan": "basic", "transitive": true}
//
// Rules are read in order: the first rule with a `plan` whose group the person is in decides the
// plan; every matching `add_on` rule adds its add-on. No matching plan rule -> `default_plan`.
// Group names compare case-insensitively (ASCII), as Entra's do.
//
// The bindings (license_rule.h) are generated from wit/plugin.wit at build time. The export
// owns its arguments and frees them; what it returns is malloc'd and freed by the bindings
// after the host has read it.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "license_rule.h"

typedef license_rule_string_t string_t;

typedef struct {
  const json_string *group;
  const json_string *plan;   // NULL: the rule gives no plan
  const json_string *add_on; // NULL: the rule gives no add-on
} rule_t;

typedef struct {
  json_value *document; // owns the strings below
  rule_t *rules;
  size_t rule_count;
  const char *default_plan;
  size_t default_plan_len;
  bool transitive;
} config_t;

// A growing, NUL-terminated text buffer; `failed` once an allocation failed.
typedef struct {
  char *ptr;
  size_t len, cap;
  bool failed;
} text_t;

static void text_add(text_t *t, const char *s, size_t n) {
  if (t->failed) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 64;
    while (cap < t->len + n + 1) cap *= 2;
    char *bigger = realloc(t->ptr, cap);
    if (!bigger) {
      t->failed = true;
      return;
    }
    t->ptr = bigger;
    t->cap = cap;
  }
  memcpy(t->ptr + t->len, s, n);
  t->len += n;
  t->ptr[t->len] = '\0';
}

static void text_cat(text_t *t, const char *s) { text_add(t, s, strlen(s)); }

static void set_error(license_rule_plugin_error_t *err, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  license_rule_string_dup(&err->code, "invalid-config");
  license_rule_string_dup(&err->message, message);
}

static bool one_of(const json_string *key, const char *const *names) {
  for (; *names; names++) {
    if (key->len == strlen(*names) && memcmp(key->ptr, *names, key->len) == 0) return true;
  }
  return false;
}

// Unknown and repeated fields are errors, as with the Rust rule's serde types.
static bool check_fields(const json_value *object, const char *const *names, const char *where,
                         license_rule_plugin_error_t *err) {
  for (size_t i = 0; i < object->as.object.len; i++) {
    const json_string *key = &object->as.object.members[i].key;
    if (!one_of(key, names)) {
      set_error(err, "%sunknown field `%s`", where, key->ptr);
      return false;
    }
    for (size_t j = 0; j < i; j++) {
      const json_string *earlier = &object->as.object.members[j].key;
      if (earlier->len == key->len && memcmp(earlier->ptr, key->ptr, key->len) == 0) {
        set_error(err, "%sduplicate field `%s`", where, key->ptr);
        return false;
      }
    }
  }
  return true;
}

static const char *const FIELDS[] = {"rules", "default_plan", "transitive", NULL};
static const char *const RULE_FIELDS[] = {"group", "plan", "add_on", NULL};

// A string field of a rule that may be absent or null.
static bool optional_string(const json_value *rule, const char *key, size_t index,
                            const json_string **out, license_rule_plugin_error_t *err) {
  const json_value *v = json_get(rule, key);
  *out = NULL;
  if (!v || v->kind == JSON_NULL) return true;
  if (v->kind != JSON_STRING) {
    set_error(err, "rules[%zu].%s: expected a string, got %s", index, key, json_kind_name(v->kind));
    return false;
  }
  *out = &v->as.string;
  return true;
}

static bool parse_config(const string_t *text, config_t *config, license_rule_plugin_error_t *err) {
  char why[256] = "";
  *config = (config_t){.default_plan = "basic", .default_plan_len = 5, .transitive = true};
  config->document = json_parse((const char *)text->ptr, text->len, why, sizeof why);
  if (!config->document) {
    set_error(err, "not JSON: %s", why);
    return false;
  }
  const json_value *doc = config->document;
  if (doc->kind != JSON_OBJECT) {
    set_error(err, "the configuration must be a JSON object");
    return false;
  }
  if (!check_fields(doc, FIELDS, "", err)) return false;
  const json_value *rules = json_get(doc, "rules");
  if (!rules) {
    set_error(err, "missing field `rules`");
    return false;
  }
  if (rules->kind != JSON_ARRAY) {
    set_error(err, "rules: expected a list, got %s", json_kind_name(rules->kind));
    return false;
  }
  config->rules = calloc(rules->as.array.len ? rules->as.array.len : 1, sizeof(rule_t));
  if (!config->rules) {
    set_error(err, "out of memory");
    return false;
  }
  for (size_t i = 0; i < rules->as.array.len; i++) {
    const json_value *rule = rules->as.array.items[i];
    char where[32];
    snprintf(where, sizeof where, "rules[%zu]: ", i);
    if (rule->kind != JSON_OBJECT) {
      set_error(err, "rules[%zu]: expected an object, got %s", i, json_kind_name(rule->kind));
      return false;
    }
    if (!check_fields(rule, RULE_FIELDS, where, err)) return false;
    const json_value *group = json_get(rule, "group");
    if (!group) {
      set_error(err, "rules[%zu]: missing field `group`", i);
      return false;
    }
    if (group->kind != JSON_STRING) {
      set_error(err, "rules[%zu].group: expected a string, got %s", i, json_kind_name(group->kind));
      return false;
    }
    rule_t *r = &config->rules[config->rule_count++];
    r->group = &group->as.string;
    if (!optional_string(rule, "plan", i, &r->plan, err)) return false;
    if (!optional_string(rule, "add_on", i, &r->add_on, err)) return false;
  }
  const json_value *plan = json_get(doc, "default_plan");
  if (plan) {
    if (plan->kind != JSON_STRING) {
      set_error(err, "default_plan: expected a string, got %s", json_kind_name(plan->kind));
      return false;
    }
    config->default_plan = plan->as.string.ptr;
    config->default_plan_len = plan->as.string.len;
  }
  const json_value *transitive = json_get(doc, "transitive");
  if (transitive) {
    if (transitive->kind != JSON_BOOL) {
      set_error(err, "transitive: expected a boolean, got %s", json_kind_name(transitive->kind));
      return false;
    }
    config->transitive = transitive->as.boolean;
  }
  return true;
}

static void free_config(config_t *config) {
  json_free(config->document);
  free(config->rules);
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool eq_ignore_ascii_case(const uint8_t *a, size_t a_len, const char *b, size_t b_len) {
  if (a_len != b_len) return false;
  for (size_t i = 0; i < a_len; i++) {
    if (ascii_lower((char)a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

static bool member_of(const muster_plugin_types_list_group_t *groups, const json_string *name) {
  for (size_t i = 0; i < groups->len; i++) {
    const string_t *g = &groups->ptr[i].display_name;
    if (eq_ignore_ascii_case(g->ptr, g->len, name->ptr, name->len)) return true;
  }
  return false;
}

// Byte order of UTF-8 is code point order, as Rust and Python sort strings.
static int compare_strings(const void *a, const void *b) {
  const string_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static bool same_string(const string_t *a, const char *b, size_t b_len) {
  return a->len == b_len && (b_len == 0 || memcmp(a->ptr, b, b_len) == 0);
}

// The license held equals the one decided (add-ons in any order, each counted).
static bool same_license(license_rule_license_t *current, const char *plan, size_t plan_len,
                         const license_rule_list_string_t *add_ons) {
  if (!same_string(&current->plan, plan, plan_len) || current->add_ons.len != add_ons->len) return false;
  if (current->add_ons.len > 1) {
    qsort(current->add_ons.ptr, current->add_ons.len, sizeof(string_t), compare_strings);
  }
  for (size_t i = 0; i < add_ons->len; i++) {
    if (compare_strings(&current->add_ons.ptr[i], &add_ons->ptr[i]) != 0) return false;
  }
  return true;
}

static bool decide(license_rule_person_t *person, license_rule_license_t *current,
                   const config_t *config, license_rule_license_decision_t *ret,
                   license_rule_plugin_error_t *err) {
  const muster_plugin_types_list_group_t *groups =
      config->transitive ? &person->transitive_groups : &person->direct_groups;
  const rule_t *plan = NULL;
  // At most one add-on per rule: index arrays sized by the rule count.
  string_t *add_ons = calloc(config->rule_count ? config->rule_count : 1, sizeof(string_t));
  const rule_t **add_on_rules = calloc(config->rule_count ? config->rule_count : 1, sizeof(rule_t *));
  size_t add_on_count = 0;
  if (!add_ons || !add_on_rules) {
    free(add_ons);
    free(add_on_rules);
    set_error(err, "out of memory");
    return false;
  }
  for (size_t i = 0; i < config->rule_count; i++) {
    const rule_t *rule = &config->rules[i];
    if (!member_of(groups, rule->group)) continue;
    if (rule->plan && !plan) plan = rule;
    if (rule->add_on) {
      bool seen = false;
      for (size_t j = 0; j < add_on_count; j++) {
        if (same_string(&add_ons[j], rule->add_on->ptr, rule->add_on->len)) seen = true;
      }
      if (!seen) {
        add_on_rules[add_on_count] = rule;
        license_rule_string_dup_n(&add_ons[add_on_count++], rule->add_on->ptr, rule->add_on->len);
      }
    }
  }

  text_t reason = {0};
  text_cat(&reason, "plan ");
  if (plan) {
    text_add(&reason, plan->plan->ptr, plan->plan->len);
    text_cat(&reason, ": member of ");
    text_add(&reason, plan->group->ptr, plan->group->len);
  } else {
    text_add(&reason, config->default_plan, config->default_plan_len);
    text_cat(&reason, ": no plan group matched (default)");
  }
  if (add_on_count > 0) {
    // The add-ons sorted; the groups in rule order (`add_on_rules` keeps it).
    text_cat(&reason, "; add-ons ");
    qsort(add_ons, add_on_count, sizeof(string_t), compare_strings);
    for (size_t i = 0; i < add_on_count; i++) {
      if (i) text_cat(&reason, ", ");
      text_add(&reason, (const char *)add_ons[i].ptr, add_ons[i].len);
    }
    text_cat(&reason, ": member of ");
    for (size_t i = 0; i < add_on_count; i++) {
      if (i) text_cat(&reason, ", ");
      text_add(&reason, add_on_rules[i]->group->ptr, add_on_rules[i]->group->len);
    }
  }
  free(add_on_rules);
  license_rule_list_string_t decided = {add_ons, add_on_count};
  if (reason.failed) {
    free(reason.ptr);
    license_rule_list_string_free(&decided);
    set_error(err, "out of memory");
    return false;
  }

  const char *plan_name = plan ? plan->plan->ptr : config->default_plan;
  size_t plan_len = plan ? plan->plan->len : config->default_plan_len;
  if (current && same_license(current, plan_name, plan_len, &decided)) {
    license_rule_list_string_free(&decided);
    text_t unchanged = {0};
    text_cat(&unchanged, "unchanged; ");
    text_add(&unchanged, reason.ptr, reason.len);
    free(reason.ptr);
    ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_NO_CHANGE;
    license_rule_string_dup_n(&ret->val.no_change, unchanged.failed ? "unchanged" : unchanged.ptr,
                              unchanged.failed ? 9 : unchanged.len);
    free(unchanged.ptr);
    return true;
  }

  text_t line = {0};
  text_add(&line, (const char *)person->id.ptr, person->id.len);
  text_cat(&line, ": ");
  text_add(&line, reason.ptr, reason.len);
  if (!line.failed) {
    string_t message = {(uint8_t *)line.ptr, line.len};
    muster_plugin_host_log(MUSTER_PLUGIN_HOST_LEVEL_DEBUG, &message);
  }
  free(line.ptr);

  ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_ASSIGN;
  muster_plugin_types_assignment_t *assign = &ret->val.assign;
  license_rule_string_dup_n(&assign->license.plan, plan_name, plan_len);
  assign->license.add_ons = decided;
  // The reason's buffer becomes the returned string: the bindings free it with free().
  assign->reason = (string_t){(uint8_t *)reason.ptr, reason.len};
  return true;
}

bool exports_license_rule_decide(license_rule_person_t *person, license_rule_license_t *maybe_current,
                                 license_rule_string_t *config_text, license_rule_license_decision_t *ret,
                                 license_rule_plugin_error_t *err) {
  config_t config;
  bool ok = parse_config(config_text, &config, err) && decide(person, maybe_current, &config, ret, err);
  free_config(&config);
  license_rule_person_free(person);
  if (maybe_current) license_rule_license_free(maybe_current);
  license_rule_string_free(config_text);
  return ok;
}
