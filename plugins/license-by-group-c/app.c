// license-by-group, in C: decides a Zoom license from the groups a person is in and the app
// roles they hold.
//
// The same rule and the same configuration as the Rust `plugins/license-by-group`:
//
//   {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"},
//              {"app_role": "Admin", "plan": "pro", "name": "admins-get-pro"},
//              {"group": "Zoom-Phone", "add_on": "phone"}],
//    "default_plan": "basic", "transitive": true}
//
// Rules are read in order: the first rule with a `plan` that matches the person (a `group` they
// are in, or an `app_role` they hold) decides the plan; every matching `add_on` rule adds its
// add-on. No matching plan rule -> `default_plan`. Group names compare case-insensitively
// (ASCII), as Entra's do; app role values exactly. `transitive: false` matches direct groups
// only.
//
// The decision names the rule that chose the plan (its `name`, else its group or app role;
// `default_plan` when none matched) and rests on the groups and roles that matched, a group
// reached through nesting with the direct group it came through (`Zoom-Phone ← Sales-Managers`).
//
// The bindings (license_rule.h) are generated from wit/0.2.0/plugin.wit (muster:plugin@0.2.0)
// at build time. The export owns its arguments and frees them; what it returns is malloc'd and
// freed by the bindings after the host has read it.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "license_rule.h"

typedef license_rule_string_t string_t;
typedef muster_plugin_types_group_t group_t;

typedef struct {
  const json_string *group;    // exactly one of `group` and `app_role` is set
  const json_string *app_role;
  const json_string *name;     // NULL: the rule is named by its group or app role
  const json_string *plan;     // NULL: the rule gives no plan
  const json_string *add_on;   // NULL: the rule gives no add-on
} rule_t;

typedef struct {
  json_value *document; // owns the strings below
  rule_t *rules;
  size_t rule_count;
  const char *default_plan;
  size_t default_plan_len;
  bool transitive;
} config_t;

// What made a rule match: a group of the person's (the rule's group name, and the group itself
// for its path) or an app role.
typedef struct {
  const rule_t *rule;
  const group_t *group; // NULL: the rule's app role matched
} match_t;

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
  if (n) memcpy(t->ptr + t->len, s, n);
  t->len += n;
  t->ptr[t->len] = '\0';
}

static void text_cat(text_t *t, const char *s) { text_add(t, s, strlen(s)); }

static void text_json(text_t *t, const json_string *s) { text_add(t, s->ptr, s->len); }

static void text_string(text_t *t, const string_t *s) { text_add(t, (const char *)s->ptr, s->len); }

// The buffer as a returned string: the bindings free it with free(). They free only strings
// and lists that are not empty, so an empty one is returned as {NULL, 0} and its buffer freed.
static string_t text_take(text_t *t) {
  string_t s = {(uint8_t *)t->ptr, t->len};
  if (t->len == 0) {
    free(t->ptr);
    s.ptr = NULL;
  }
  *t = (text_t){0};
  return s;
}

static void set_error(license_rule_plugin_error_t *err, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  license_rule_string_dup(&err->code, "invalid-config");
  license_rule_string_dup(&err->message, message);
}

static bool out_of_memory(license_rule_plugin_error_t *err) {
  license_rule_string_dup(&err->code, "out-of-memory");
  license_rule_string_dup(&err->message, "out of memory");
  return false;
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
static const char *const RULE_FIELDS[] = {"group", "app_role", "name", "plan", "add_on", NULL};

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
  if (!config->rules) return out_of_memory(err);
  for (size_t i = 0; i < rules->as.array.len; i++) {
    const json_value *rule = rules->as.array.items[i];
    char where[32];
    snprintf(where, sizeof where, "rules[%zu]: ", i);
    if (rule->kind != JSON_OBJECT) {
      set_error(err, "rules[%zu]: expected an object, got %s", i, json_kind_name(rule->kind));
      return false;
    }
    if (!check_fields(rule, RULE_FIELDS, where, err)) return false;
    rule_t *r = &config->rules[config->rule_count++];
    if (!optional_string(rule, "group", i, &r->group, err)) return false;
    if (!optional_string(rule, "app_role", i, &r->app_role, err)) return false;
    if (!optional_string(rule, "name", i, &r->name, err)) return false;
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
  // Once the whole configuration has been read, as the Rust rule checks it.
  for (size_t i = 0; i < config->rule_count; i++) {
    const rule_t *r = &config->rules[i];
    if ((r->group != NULL) == (r->app_role != NULL)) {
      set_error(err, "rules[%zu]: give exactly one of `group` and `app_role`", i);
      return false;
    }
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

static bool same_string(const string_t *a, const char *b, size_t b_len) {
  return a->len == b_len && (b_len == 0 || memcmp(a->ptr, b, b_len) == 0);
}

// Whether the rule matches the person; `found` says what matched.
static bool matches(const license_rule_person_t *person, const rule_t *rule, bool transitive, match_t *found) {
  *found = (match_t){.rule = rule};
  if (rule->group) {
    for (size_t i = 0; i < person->groups.len; i++) {
      const group_t *g = &person->groups.ptr[i];
      if (!transitive && !g->direct) continue;
      if (eq_ignore_ascii_case(g->display_name.ptr, g->display_name.len, rule->group->ptr, rule->group->len)) {
        found->group = g;
        return true;
      }
    }
    return false;
  }
  for (size_t i = 0; i < person->app_roles.len; i++) {
    if (same_string(&person->app_roles.ptr[i], rule->app_role->ptr, rule->app_role->len)) return true;
  }
  return false;
}

// The fact a match rests on: the group path (`Zoom-Phone ← Sales-Managers` for a group reached
// through the direct group Sales-Managers, `Zoom-Phone` for a direct one) or `app role Admin`.
static void fact(text_t *t, const match_t *m) {
  if (m->group) {
    text_string(t, &m->group->display_name);
    if (m->group->via.is_some) {
      text_cat(t, " \xE2\x86\x90 "); // U+2190 LEFTWARDS ARROW, in UTF-8
      text_string(t, &m->group->via.val);
    }
  } else {
    text_cat(t, "app role ");
    text_json(t, m->rule->app_role);
  }
}

// `member of Zoom-Webinar, Zoom-Phone` for groups (as the rules name them), `app role Admin`
// for roles, as the log's sentence reads: the groups first, then the roles.
static void sentence(text_t *t, const match_t *found, size_t count) {
  bool any = false;
  for (size_t i = 0; i < count; i++) {
    if (!found[i].group) continue;
    text_cat(t, any ? ", " : "member of ");
    text_json(t, found[i].rule->group);
    any = true;
  }
  bool roles = false;
  for (size_t i = 0; i < count; i++) {
    if (found[i].group) continue;
    text_cat(t, roles ? ", " : any ? ", app role " : "app role ");
    text_json(t, found[i].rule->app_role);
    roles = true;
  }
}

// Byte order of UTF-8 is code point order, as Rust and Python sort strings.
static int compare_strings(const void *a, const void *b) {
  const string_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
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

// The facts the decision rests on, most important first (the plan's, then the add-ons' in
// rule order), each once. Returns false when out of memory, with `out` empty.
static bool because(const match_t *plan, const match_t *add_on_matches, size_t add_on_count,
                    license_rule_list_string_t *out) {
  size_t most = add_on_count + (plan ? 1 : 0);
  *out = (license_rule_list_string_t){calloc(most ? most : 1, sizeof(string_t)), 0};
  if (!out->ptr) return false;
  for (size_t i = 0; i < most; i++) {
    const match_t *m = plan ? (i == 0 ? plan : &add_on_matches[i - 1]) : &add_on_matches[i];
    text_t t = {0};
    fact(&t, m);
    if (t.failed) {
      free(t.ptr);
      for (size_t j = 0; j < out->len; j++) license_rule_string_free(&out->ptr[j]);
      free(out->ptr);
      *out = (license_rule_list_string_t){NULL, 0};
      return false;
    }
    bool seen = false;
    for (size_t j = 0; j < out->len && !seen; j++) seen = same_string(&out->ptr[j], t.ptr, t.len);
    if (seen) {
      free(t.ptr);
    } else {
      out->ptr[out->len++] = text_take(&t);
    }
  }
  if (out->len == 0) {
    free(out->ptr);
    out->ptr = NULL;
  }
  return true;
}

static bool decide(license_rule_person_t *person, license_rule_license_t *current,
                   const config_t *config, license_rule_license_decision_t *ret,
                   license_rule_plugin_error_t *err) {
  match_t plan = {0};
  bool have_plan = false;
  // At most one add-on per rule: arrays sized by the rule count.
  size_t room = config->rule_count ? config->rule_count : 1;
  string_t *add_ons = calloc(room, sizeof(string_t));
  match_t *add_on_matches = calloc(room, sizeof(match_t));
  size_t add_on_count = 0;
  if (!add_ons || !add_on_matches) {
    free(add_ons);
    free(add_on_matches);
    return out_of_memory(err);
  }
  for (size_t i = 0; i < config->rule_count; i++) {
    const rule_t *rule = &config->rules[i];
    match_t found;
    if (!matches(person, rule, config->transitive, &found)) continue;
    if (rule->add_on) {
      bool seen = false;
      for (size_t j = 0; j < add_on_count; j++) {
        if (same_string(&add_ons[j], rule->add_on->ptr, rule->add_on->len)) seen = true;
      }
      if (!seen) {
        add_on_matches[add_on_count] = found;
        license_rule_string_dup_n(&add_ons[add_on_count++], rule->add_on->ptr, rule->add_on->len);
      }
    }
    if (rule->plan && !have_plan) {
      plan = found;
      have_plan = true;
    }
  }
  // The add-ons sorted; their matches in rule order (`add_on_matches` keeps it).
  if (add_on_count > 1) qsort(add_ons, add_on_count, sizeof(string_t), compare_strings);
  if (add_on_count == 0) {
    free(add_ons); // an empty list is returned as {NULL, 0}: the bindings would not free it
    add_ons = NULL;
  }
  license_rule_list_string_t decided = {add_ons, add_on_count};

  text_t reason = {0};
  text_cat(&reason, "plan ");
  if (have_plan) {
    text_json(&reason, plan.rule->plan);
    text_cat(&reason, ": ");
    sentence(&reason, &plan, 1);
  } else {
    text_add(&reason, config->default_plan, config->default_plan_len);
    text_cat(&reason, ": no plan group matched (default)");
  }
  if (add_on_count > 0) {
    text_cat(&reason, "; add-ons ");
    for (size_t i = 0; i < add_on_count; i++) {
      if (i) text_cat(&reason, ", ");
      text_string(&reason, &add_ons[i]);
    }
    text_cat(&reason, ": ");
    sentence(&reason, add_on_matches, add_on_count);
  }

  text_t rule = {0};
  if (!have_plan) {
    text_cat(&rule, "default_plan");
  } else if (plan.rule->name) {
    text_json(&rule, plan.rule->name);
  } else if (plan.group) {
    text_json(&rule, plan.rule->group);
  } else {
    text_cat(&rule, "app role ");
    text_json(&rule, plan.rule->app_role);
  }

  license_rule_list_string_t facts;
  bool facts_ok = because(have_plan ? &plan : NULL, add_on_matches, add_on_count, &facts);
  free(add_on_matches);
  if (!facts_ok || reason.failed || rule.failed) {
    if (facts_ok) license_rule_list_string_free(&facts);
    free(reason.ptr);
    free(rule.ptr);
    license_rule_list_string_free(&decided);
    return out_of_memory(err);
  }

  const char *plan_name = have_plan ? plan.rule->plan->ptr : config->default_plan;
  size_t plan_len = have_plan ? plan.rule->plan->len : config->default_plan_len;
  if (current && same_license(current, plan_name, plan_len, &decided)) {
    license_rule_list_string_free(&decided);
    text_t unchanged = {0};
    text_cat(&unchanged, "unchanged; ");
    text_add(&unchanged, reason.ptr, reason.len);
    free(reason.ptr);
    if (unchanged.failed) {
      free(unchanged.ptr);
      free(rule.ptr);
      license_rule_list_string_free(&facts);
      return out_of_memory(err);
    }
    ret->tag = MUSTER_PLUGIN_TYPES_LICENSE_DECISION_NO_CHANGE;
    ret->val.no_change = (muster_plugin_types_reason_t){text_take(&unchanged), text_take(&rule), facts};
    return true;
  }

  text_t line = {0};
  text_string(&line, &person->id);
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
  // The buffers become the returned strings: the bindings free them with free().
  assign->reason = (muster_plugin_types_reason_t){text_take(&reason), text_take(&rule), facts};
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
