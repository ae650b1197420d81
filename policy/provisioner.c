/*
 * provisioner.c — authority.provisioners of ca.json, read the way step-ca
 * reads them, but refusing what step-ca would silently accept and then
 * misbehave on (see the comments marked "stricter").
 *
 * Claims are resolved as step-ca resolves them: each member of a
 * provisioner's "claims" overrides the same member of authority.claims,
 * which overrides step-ca's default. Both the global set and every
 * provisioner's resolved set must be consistent (min <= default <= max,
 * all > 0), as step-ca's Claimer.Validate() demands for TLS; we demand
 * it for the SSH durations too (stricter).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/jose.h"
#include "policy/provisioner.h"

#define MINUTE	60L
#define HOUR	(60L * MINUTE)

/* step-ca's globalProvisionerClaims (authority/provisioner/claims.go). */
static const struct claims claim_defaults = {
	.min_tls = 5 * MINUTE,
	.max_tls = 24 * HOUR,
	.default_tls = 24 * HOUR,
	.disable_renewal = 0,
	.renew_after_expiry = 0,
	.enable_ssh = 0,
	.min_user_ssh = 5 * MINUTE,
	.max_user_ssh = 24 * HOUR,
	.default_user_ssh = 16 * HOUR,
	.min_host_ssh = 5 * MINUTE,
	.max_host_ssh = 30 * 24 * HOUR,
	.default_host_ssh = 30 * 24 * HOUR,
};

enum claim_kind { CLAIM_DURATION, CLAIM_BOOL };

/* The JSON names are step-ca's (provisioner.Claims). */
static const struct claim_def {
	const char	*name;
	enum claim_kind	 kind;
	size_t		 off;
} claim_defs[] = {
	{ "minTLSCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, min_tls) },
	{ "maxTLSCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, max_tls) },
	{ "defaultTLSCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, default_tls) },
	{ "disableRenewal", CLAIM_BOOL,
	    offsetof(struct claims, disable_renewal) },
	{ "allowRenewalAfterExpiry", CLAIM_BOOL,
	    offsetof(struct claims, renew_after_expiry) },
	{ "enableSSHCA", CLAIM_BOOL,
	    offsetof(struct claims, enable_ssh) },
	{ "minUserSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, min_user_ssh) },
	{ "maxUserSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, max_user_ssh) },
	{ "defaultUserSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, default_user_ssh) },
	{ "minHostSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, min_host_ssh) },
	{ "maxHostSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, max_host_ssh) },
	{ "defaultHostSSHCertDuration", CLAIM_DURATION,
	    offsetof(struct claims, default_host_ssh) },
};

/* The (min, default, max) triples that must be ordered. */
static const struct claim_range {
	const char	*what;
	size_t		 min, def, max;
} claim_ranges[] = {
	{ "TLS", offsetof(struct claims, min_tls),
	    offsetof(struct claims, default_tls),
	    offsetof(struct claims, max_tls) },
	{ "user SSH", offsetof(struct claims, min_user_ssh),
	    offsetof(struct claims, default_user_ssh),
	    offsetof(struct claims, max_user_ssh) },
	{ "host SSH", offsetof(struct claims, min_host_ssh),
	    offsetof(struct claims, default_host_ssh),
	    offsetof(struct claims, max_host_ssh) },
};

static int	load_jwk(const cJSON *, struct provisioner *, char *, size_t);
static int	load_sshpop(const cJSON *, struct provisioner *, char *,
		    size_t);

/*
 * Provisioner types, matched case-insensitively as step-ca does
 * (it lower-cases "type" before its switch). X5C, ACME, OIDC and the
 * cloud types are rows to come; until then they are refused rather than
 * loaded without their checks.
 */
static const struct prov_typedef {
	const char	*name;
	enum prov_type	 type;
	int		(*load)(const cJSON *, struct provisioner *, char *,
			    size_t);
} prov_types[] = {
	{ "JWK", PROV_JWK, load_jwk },
	{ "SSHPOP", PROV_SSHPOP, load_sshpop },
};

/* Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

/* ---- durations ---- */

/* Go's time.unitMap, in nanoseconds. */
static const struct dur_unit {
	const char	*name;
	uint64_t	 ns;
} dur_units[] = {
	{ "ns", 1ULL },
	{ "us", 1000ULL },
	{ "\xc2\xb5s", 1000ULL },	/* U+00B5 micro sign */
	{ "\xce\xbcs", 1000ULL },	/* U+03BC Greek mu */
	{ "ms", 1000000ULL },
	{ "s", 1000000000ULL },
	{ "m", 60ULL * 1000000000ULL },
	{ "h", 3600ULL * 1000000000ULL },
};

#define NS_PER_SEC	1000000000ULL
#define DUR_LIMIT	(1ULL << 63)

/*
 * A transcription of Go's time.ParseDuration (Go 1.17 and later, which
 * accept -1<<63 ns), including its float64 arithmetic for fractions so
 * that "0.3333333333333333333h" gives the same nanoseconds as Go. The
 * result is then rounded down (towards minus infinity) to seconds.
 */
int
duration_parse(const char *s, long *secs)
{
	uint64_t d = 0, v, f, unit;
	double scale;
	size_t i, ulen;
	int neg = 0, pre, post, fover;
	const char *u;

	if (s == NULL || secs == NULL)
		return -1;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*secs = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		v = f = 0;
		scale = 1;
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return -1;
		/* [0-9]* */
		for (pre = 0; *s >= '0' && *s <= '9'; s++, pre = 1) {
			if (v > DUR_LIMIT / 10)
				return -1;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > DUR_LIMIT)
				return -1;
		}
		/* (\.[0-9]*)? — excess digits only stop adding precision. */
		post = 0;
		if (*s == '.') {
			s++;
			for (fover = 0; *s >= '0' && *s <= '9'; s++) {
				post = 1;
				if (fover)
					continue;
				if (f > (DUR_LIMIT - 1) / 10) {
					fover = 1;
					continue;
				}
				if (f * 10 + (uint64_t)(*s - '0') > DUR_LIMIT) {
					fover = 1;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			return -1;
		/* The unit is everything up to the next digit or '.'. */
		for (ulen = 0; s[ulen] != '\0' && s[ulen] != '.' &&
		    !(s[ulen] >= '0' && s[ulen] <= '9'); ulen++)
			;
		if (ulen == 0)
			return -1;
		u = s;
		s += ulen;
		unit = 0;
		for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++)
			if (strlen(dur_units[i].name) == ulen &&
			    memcmp(dur_units[i].name, u, ulen) == 0)
				unit = dur_units[i].ns;
		if (unit == 0)
			return -1;
		if (v > DUR_LIMIT / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			/* float64, as Go: at most 3.6e12 ns is added here. */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > DUR_LIMIT)
				return -1;
		}
		d += v;
		if (d > DUR_LIMIT)
			return -1;
	}
	if (!neg && d > DUR_LIMIT - 1)
		return -1;
	if (neg)
		*secs = -(long)((d + NS_PER_SEC - 1) / NS_PER_SEC);
	else
		*secs = (long)(d / NS_PER_SEC);
	return 0;
}

/* ---- helpers ---- */

/*
 * 1 when an object has two members of one name. cJSON keeps both and
 * finds the first, Go's encoding/json keeps the last (and matches names
 * without regard to case, hence strcasecmp): refuse, so that ca.json
 * cannot mean one thing to us and another to step tooling. Our own
 * lookups are case-sensitive, so "Type" is not "type" here (stricter).
 */
static int
has_dup_members(const cJSON *o)
{
	const cJSON *a, *b;

	for (a = o->child; a != NULL; a = a->next)
		for (b = a->next; b != NULL; b = b->next)
			if (a->string != NULL && b->string != NULL &&
			    strcasecmp(a->string, b->string) == 0)
				return 1;
	return 0;
}

/* A member that is absent or JSON null counts as absent, as in Go. */
static const cJSON *
member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNull(m) ? NULL : m;
}

static long *
claim_long(struct claims *c, size_t off)
{
	return (long *)(void *)((char *)c + off);
}

static int *
claim_int(struct claims *c, size_t off)
{
	return (int *)(void *)((char *)c + off);
}

static long
claim_get(const struct claims *c, size_t off)
{
	return *(const long *)(const void *)((const char *)c + off);
}

/*
 * Applies a "claims" object over c. Unknown members are refused
 * (stricter: step-ca ignores them, so a misspelt maxTLSCertDuration
 * would silently leave the default in force). Durations must be Go
 * duration strings; step-ca 0.19 accepts nothing else either.
 */
static int
claims_apply(const cJSON *o, struct claims *c, char *err, size_t errsz)
{
	const struct claim_def *def;
	const cJSON *m;
	size_t i;
	long secs;

	if (!cJSON_IsObject(o)) {
		snprintf(err, errsz, "claims: not an object");
		return -1;
	}
	if (has_dup_members(o)) {
		snprintf(err, errsz, "claims: duplicate member");
		return -1;
	}
	for (m = o->child; m != NULL; m = m->next) {
		def = NULL;
		for (i = 0; i < sizeof(claim_defs) / sizeof(claim_defs[0]); i++)
			if (strcmp(claim_defs[i].name, m->string) == 0)
				def = &claim_defs[i];
		if (def == NULL) {
			snprintf(err, errsz, "claims: unknown claim \"%.64s\"",
			    m->string);
			return -1;
		}
		if (cJSON_IsNull(m))
			continue;
		switch (def->kind) {
		case CLAIM_DURATION:
			if (!cJSON_IsString(m) ||
			    duration_parse(m->valuestring, &secs) == -1) {
				snprintf(err, errsz, "claims: %s: not a "
				    "duration", def->name);
				return -1;
			}
			*claim_long(c, def->off) = secs;
			break;
		case CLAIM_BOOL:
			if (!cJSON_IsBool(m)) {
				snprintf(err, errsz, "claims: %s: not a "
				    "boolean", def->name);
				return -1;
			}
			*claim_int(c, def->off) = cJSON_IsTrue(m);
			break;
		}
	}
	return 0;
}

static int
claims_check(const struct claims *c, char *err, size_t errsz)
{
	const struct claim_range *r;
	long min, def, max;
	size_t i;

	for (i = 0; i < sizeof(claim_ranges) / sizeof(claim_ranges[0]); i++) {
		r = &claim_ranges[i];
		min = claim_get(c, r->min);
		def = claim_get(c, r->def);
		max = claim_get(c, r->max);
		if (min <= 0 || def <= 0 || max <= 0) {
			snprintf(err, errsz, "claims: %s durations must be "
			    "at least 1s", r->what);
			return -1;
		}
		if (min > def || def > max) {
			snprintf(err, errsz, "claims: %s durations need min "
			    "<= default <= max (%lds, %lds, %lds)", r->what,
			    min, def, max);
			return -1;
		}
	}
	return 0;
}

/* ---- types ---- */

/*
 * A JWK provisioner: the public key in "key", named by its kid.
 * Stricter than step-ca, which trusts whatever kid it is given: the kid
 * must be the key's RFC 7638 thumbprint (what step-cli always writes),
 * so that a kid names one key only; the key must be public (ca.json is
 * served by GET /provisioners); "use", if given, must be "sig"; "alg",
 * if given, must fit the key.
 */
/*
 * SSHPOP: tokens signed by the key of an SSH certificate this CA issued,
 * the certificate in the token's header; nothing but name and claims.
 */
static int
load_sshpop(const cJSON *o, struct provisioner *p, char *err, size_t errsz)
{
	static const char *const known[] = { "type", "name", "claims",
	    "options" };
	const cJSON	*m;
	size_t		 i;

	for (m = o->child; m != NULL; m = m->next) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(m->string, known[i]) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			snprintf(err, errsz, "SSHPOP: unknown member \"%.32s\"",
			    m->string);
			return -1;
		}
	}
	p->key = NULL;
	p->kid[0] = '\0';
	return 0;
}

static int
load_jwk(const cJSON *o, struct provisioner *p, char *err, size_t errsz)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	const cJSON *key, *kid, *use, *alg, *ek;
	size_t i;

	if ((key = member(o, "key")) == NULL || !cJSON_IsObject(key)) {
		snprintf(err, errsz, "missing or invalid \"key\"");
		return -1;
	}
	if (has_dup_members(key)) {
		snprintf(err, errsz, "key: duplicate member");
		return -1;
	}
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]);
	    i++)
		if (cJSON_GetObjectItemCaseSensitive(key,
		    private_members[i]) != NULL) {
			snprintf(err, errsz, "key: holds private member "
			    "\"%s\"", private_members[i]);
			return -1;
		}
	if ((kid = member(key, "kid")) == NULL || !cJSON_IsString(kid) ||
	    kid->valuestring[0] == '\0' ||
	    strlen(kid->valuestring) >= sizeof(p->kid)) {
		snprintf(err, errsz, "key: missing or invalid \"kid\"");
		return -1;
	}
	if ((use = member(key, "use")) != NULL && (!cJSON_IsString(use) ||
	    strcmp(use->valuestring, "sig") != 0)) {
		snprintf(err, errsz, "key: \"use\" is not \"sig\"");
		return -1;
	}
	if ((p->key = jose_jwk_to_pkey(key, 0)) == NULL) {
		snprintf(err, errsz, "key: not a valid public JWK");
		return -1;
	}
	if ((alg = member(key, "alg")) != NULL && (!cJSON_IsString(alg) ||
	    jose_alg_fits_key(alg->valuestring, p->key) != JOSE_OK)) {
		snprintf(err, errsz, "key: \"alg\" does not fit the key");
		return -1;
	}
	if (jose_pkey_thumbprint(p->key, tp) != JOSE_OK) {
		snprintf(err, errsz, "key: cannot compute its thumbprint");
		return -1;
	}
	if (strcmp(tp, kid->valuestring) != 0) {
		snprintf(err, errsz, "key: kid is not the key's RFC 7638 "
		    "thumbprint (%s)", tp);
		return -1;
	}
	/* Served as is by GET /provisioners/{kid}/encrypted-key. */
	if ((ek = member(o, "encryptedKey")) != NULL && (!cJSON_IsString(ek) ||
	    ek->valuestring[0] == '\0')) {
		snprintf(err, errsz, "invalid \"encryptedKey\"");
		return -1;
	}
	memcpy(p->kid, kid->valuestring, strlen(kid->valuestring) + 1);
	return 0;
}

static const struct prov_typedef *
type_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(prov_types) / sizeof(prov_types[0]); i++)
		if (strcasecmp(prov_types[i].name, name) == 0)
			return &prov_types[i];
	return NULL;
}

/* One provisioner object into p (p->key is set only on success). */
static int
load_one(const cJSON *o, const struct claims *global, struct provisioner *p,
    char *err, size_t errsz)
{
	const struct prov_typedef *td;
	const cJSON *type, *name, *claims;

	if (!cJSON_IsObject(o)) {
		snprintf(err, errsz, "not an object");
		return -1;
	}
	if (has_dup_members(o)) {
		snprintf(err, errsz, "duplicate member");
		return -1;
	}
	if ((type = member(o, "type")) == NULL || !cJSON_IsString(type)) {
		snprintf(err, errsz, "missing or invalid \"type\"");
		return -1;
	}
	if ((td = type_lookup(type->valuestring)) == NULL) {
		snprintf(err, errsz, "unknown or unsupported type \"%.32s\"",
		    type->valuestring);
		return -1;
	}
	if ((name = member(o, "name")) == NULL || !cJSON_IsString(name) ||
	    name->valuestring[0] == '\0' ||
	    strlen(name->valuestring) >= sizeof(p->name)) {
		snprintf(err, errsz, "missing or invalid \"name\"");
		return -1;
	}
	memcpy(p->name, name->valuestring, strlen(name->valuestring) + 1);
	p->type = td->type;
	p->claims = *global;
	if ((claims = member(o, "claims")) != NULL &&
	    (claims_apply(claims, &p->claims, err, errsz) == -1 ||
	    claims_check(&p->claims, err, errsz) == -1))
		return -1;
	if (td->load(o, p, err, errsz) == -1) {
		EVP_PKEY_free(p->key);
		p->key = NULL;
		return -1;
	}
	return 0;
}

/* ---- the table ---- */

int
provisioners_load(const cJSON *authority, struct provisioner **out, int *n,
    char *err, size_t errsz)
{
	struct provisioner *tab = NULL;
	struct claims global = claim_defaults;
	const cJSON *list, *gc, *o;
	char why[192];
	int i, j, cnt;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (err == NULL || errsz == 0) {
		err = why;
		errsz = sizeof(why);
	}
	if (authority == NULL || out == NULL || n == NULL ||
	    !cJSON_IsObject(authority)) {
		snprintf(err, errsz, "authority: not an object");
		return -1;
	}
	if (has_dup_members(authority)) {
		snprintf(err, errsz, "authority: duplicate member");
		return -1;
	}
	/* step-ca validates the global claims on their own as well. */
	if ((gc = member(authority, "claims")) != NULL &&
	    (claims_apply(gc, &global, why, sizeof(why)) == -1 ||
	    claims_check(&global, why, sizeof(why)) == -1)) {
		snprintf(err, errsz, "authority.%s", why);
		return -1;
	}
	if ((list = member(authority, "provisioners")) == NULL ||
	    !cJSON_IsArray(list)) {
		snprintf(err, errsz, "authority.provisioners: missing or not "
		    "an array");
		return -1;
	}
	/* An empty list is a CA that accepts no token; step-ca allows it. */
	if ((cnt = cJSON_GetArraySize(list)) == 0)
		return 0;
	if ((tab = calloc((size_t)cnt, sizeof(*tab))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	i = 0;
	cJSON_ArrayForEach(o, list) {
		if (load_one(o, &global, &tab[i], why, sizeof(why)) == -1) {
			snprintf(err, errsz, "authority.provisioners[%d]: %s",
			    i, why);
			goto fail;
		}
		/*
		 * step-ca 0.19 refuses two provisioners with one name (and
		 * so one name+kid); the same key under two names is allowed.
		 */
		for (j = 0; j < i; j++)
			if (strcmp(tab[j].name, tab[i].name) == 0) {
				snprintf(err, errsz, "authority.provisioners"
				    "[%d]: duplicate name \"%s\"", i,
				    tab[i].name);
				i++;
				goto fail;
			}
		i++;
	}
	*out = tab;
	*n = cnt;
	return 0;
fail:
	provisioners_free(tab, i);
	return -1;
}

void
provisioners_free(struct provisioner *p, int n)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++)
		EVP_PKEY_free(p[i].key);
	free(p);
}

const struct provisioner *
provisioner_find(const struct provisioner *p, int n, const char *iss,
    const char *kid)
{
	int i;

	if (p == NULL || iss == NULL || kid == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (p[i].type == PROV_JWK && strcmp(p[i].name, iss) == 0 &&
		    strcmp(p[i].kid, kid) == 0)
			return &p[i];
	return NULL;
}

const struct provisioner *
provisioner_named(const struct provisioner *p, int n, enum prov_type type,
    const char *name)
{
	int i;

	if (p == NULL || name == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (p[i].type == type && strcmp(p[i].name, name) == 0)
			return &p[i];
	return NULL;
}

/*
 * RFC 3339 ("2006-01-02T15:04:05Z", offsets, fractions) or a duration
 * from base. A field out of range is an error, never normalised.
 */
int
time_or_duration(const char *s, time_t base, time_t *t)
{
	struct tm	 tm = { 0 }, chk;
	const char	*p;
	long		 d;
	int		 oh, om, n = 0;

	if (duration_parse(s, &d) == 0) {
		*t = base + d;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	p = s + n;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	chk = tm;
	if ((*t = timegm(&tm)) == -1 || tm.tm_year != chk.tm_year ||
	    tm.tm_mon != chk.tm_mon || tm.tm_mday != chk.tm_mday ||
	    tm.tm_hour != chk.tm_hour || tm.tm_min != chk.tm_min ||
	    tm.tm_sec != chk.tm_sec)
		return -1;
	if (strcmp(p, "Z") == 0)
		return 0;
	if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d%n", &oh, &om,
	    &n) != 2 || p[1 + n] != '\0' || n != 5 || oh > 23 || om > 59)
		return -1;
	*t -= (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
	return 0;
}
