/*
 * guard.c — decides from the payload itself whether a key may sign it.
 *
 * Each kind is parsed completely and strictly before any rule applies: a
 * blob that two parsers read differently is how guards get bypassed, so
 * whatever is not exactly as expected is refused. The ASN.1 kinds are
 * described field by field in tables that follow the RFCs' modules.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "hsm/der.h"
#include "hsm/guard.h"
#include "hsm/proto.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define O(s)		(const uint8_t *)(s), sizeof(s) - 1
#define MAXRDN		64	/* bound the stack; real names have < 10 */
#define MAXEXT		64

/* TLVs the rules look at, kept by the walk. */
enum { S_NONE, S_VER, S_SERIAL, S_SIGOID, S_SIGPARAM, S_ISSUER, S_NB, S_NA,
    S_SUBJECT, S_SPKI, S_KEY, S_UID, S_EXTS, S_CA, S_KU, S_NS, S_BYNAME,
    S_BYKEY, NSLOT };

struct ctx {
	const struct guard_key	*k;
	uint8_t			 alg;
	struct guard_info	*gi;
	const char		*what;	/* structure name, for reasons */
	struct der_tlv		 slot[NSLOT];	/* .raw NULL when absent */
	struct der_tlv		 extoid[MAXEXT]; /* this Extensions' so far */
	size_t			 next;
};

struct sb {			/* bounded appender: cuts, never overruns */
	char	*s;
	size_t	 sz, len;
};

static int refuse(struct guard_info *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct guard_info *gi, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(gi->reason, sizeof(gi->reason), fmt, ap);
	va_end(ap);
	return -1;
}

static int
malformed(struct ctx *c, const char *field)
{
	return refuse(c->gi, "malformed %s: %s", c->what, field);
}

static struct sb
sb_init(char *s, size_t sz)
{
	s[0] = '\0';
	return (struct sb){ s, sz, 0 };
}

static void
sb_puts(struct sb *b, const char *s)
{
	for (; *s != '\0' && b->len + 1 < b->sz; s++) {
		b->s[b->len++] = *s;
		b->s[b->len] = '\0';
	}
}

static void
sb_hex(struct sb *b, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char		 x[3] = { 0, 0, 0 };

	for (; n > 0 && b->len + 1 < b->sz; n--, p++) {
		x[0] = hx[*p >> 4];
		x[1] = hx[*p & 0xf];
		sb_puts(b, x);
	}
}

/* Printable ASCII as is, the rest as \xNN: audit lines stay one line. */
static void
sb_text(struct sb *b, const uint8_t *p, size_t n, const char *esc)
{
	char	 ch[3] = { '\\', 0, 0 };

	for (; n > 0 && b->len + 1 < b->sz; p++, n--) {
		if (*p < 0x20 || *p > 0x7e || *p == '\\') {
			sb_puts(b, "\\x");
			sb_hex(b, p, 1);
			continue;
		}
		ch[1] = (char)*p;
		sb_puts(b, strchr(esc, *p) != NULL ? ch : ch + 1);
	}
}

/* Names for the usual attributes, else the dotted OID; -1 if bad. */
static int
attr_type(struct sb *b, const struct der_tlv *oid)
{
	static const int nids[] = { NID_commonName, NID_organizationName,
	    NID_organizationalUnitName, NID_countryName, NID_localityName,
	    NID_stateOrProvinceName, NID_pkcs9_emailAddress, NID_serialNumber,
	    NID_domainComponent };
	ASN1_OBJECT	*obj;
	const uint8_t	*p = oid->raw;
	char		 buf[128];
	size_t		 i;
	int		 nid, r;

	/* d2i refuses non-minimal subidentifiers, as DER requires. */
	if ((obj = d2i_ASN1_OBJECT(NULL, &p, oid->rawlen)) == NULL)
		return -1;
	nid = OBJ_obj2nid(obj);
	for (i = 0; i < nitems(nids) && nids[i] != nid; i++)
		;
	if ((r = OBJ_obj2txt(buf, sizeof(buf), obj, 1)) > 0)
		sb_puts(b, i < nitems(nids) ? OBJ_nid2sn(nid) : buf);
	ASN1_OBJECT_free(obj);
	return r > 0 ? 0 : -1;
}

/* One AttributeTypeAndValue, as TYPE=value or TYPE=#hex-of-the-TLV. */
static int
atv_str(struct sb *b, const struct der_tlv *atv)
{
	struct der	 d;
	struct der_tlv	 oid, val;
	size_t		 i;
	int		 text;

	if (der_enter(atv, &d) == -1 || der_expect(&d, DER_OID, &oid) == -1 ||
	    der_read(&d, &val) == -1 || !der_done(&d) ||
	    attr_type(b, &oid) == -1)
		return -1;
	sb_puts(b, "=");
	/* UTF8, Numeric, Printable, Teletex, IA5 and Visible strings */
	text = val.tag != 0 && strchr("\x0c\x12\x13\x14\x16\x1a", val.tag);
	for (i = 0; text && i < val.len; i++)
		text = val.val[i] >= 0x20 && val.val[i] <= 0x7e;
	if (text)
		sb_text(b, val.val, val.len, ",+\"<>;");
	else {
		sb_puts(b, "#");
		sb_hex(b, val.raw, val.rawlen);
	}
	return 0;
}

/*
 * Checks that name is a well-formed Name and writes it RFC 4514 style,
 * most specific RDN first, into out (cut to fit); "" when malformed.
 */
static int
name_str(const struct der_tlv *name, char *out, size_t outsz)
{
	struct der	 d, rd;
	struct der_tlv	 rdn[MAXRDN], atv;
	struct sb	 b = sb_init(out, outsz);
	size_t		 n = 0, i;

	if (name->tag != DER_SEQUENCE || der_enter(name, &d) == -1)
		return -1;
	while (!der_done(&d))
		if (n == MAXRDN || der_expect(&d, DER_SET, &rdn[n++]) == -1)
			goto bad;
	for (i = n; i-- > 0;) {
		sb_puts(&b, i != n - 1 ? "," : "");
		if (der_enter(&rdn[i], &rd) == -1 || der_done(&rd))
			goto bad;
		while (!der_done(&rd)) {
			if (der_expect(&rd, DER_SEQUENCE, &atv) == -1 ||
			    atv_str(&b, &atv) == -1)
				goto bad;
			sb_puts(&b, der_done(&rd) ? "" : "+");
		}
	}
	return 0;
 bad:
	out[0] = '\0';
	return -1;
}

/*
 * One field of a SEQUENCE as the payload must have it. A walk reads the
 * fields in order, keeps the TLV in its slot, runs its check and walks
 * its contents when it has a sub-table; the contents must then be used
 * up. Tables nest a few levels deep at most, which bounds the recursion.
 */
struct field {
	const char		*name;
	uint8_t			 tag;
	uint8_t			 flags;
	uint8_t			 slot;
	uint8_t			 chk;	/* C_*: what else it must be */
	const struct field	*sub;
};
#define F_OPT	0x01	/* OPTIONAL */
#define F_TIME	0x02	/* Time: UTCTime or GeneralizedTime */
#define F_ANY	0x04	/* ANY (algorithm parameters) */
#define F_ALT	0x08	/* CHOICE: a run of F_ALT rows, exactly one */
#define F_MANY	0x10	/* SEQUENCE OF sub, whose first row is required */
#define END	{ NULL, 0, 0, 0, 0, NULL }
#define SUB(...) ((const struct field []){ __VA_ARGS__, END })

enum { C_NONE, C_INT, C_SERIAL, C_TIME, C_BOOL, C_EMPTY, C_BITS, C_NAME,
    C_SUBJECT, C_EXTS, C_EXTOID, C_EXTVAL };

static int	check(struct ctx *, int, const struct der_tlv *);

static int
match(const struct field *f, const struct der *d)
{
	int	 tag = der_peek(d);

	if (f->flags & F_TIME)
		return tag == DER_UTCTIME || tag == DER_GENTIME;
	return tag != -1 && ((f->flags & F_ANY) || tag == f->tag);
}

static int
walk(struct ctx *c, struct der *d, const struct field *f)
{
	const struct field	*g;
	struct der_tlv		 t;
	struct der		 in;

	for (; f->name != NULL; f++) {
		for (g = f; (g->flags & F_ALT) && (g[1].flags & F_ALT) &&
		    !match(g, d); g++)
			;
		while ((f->flags & F_ALT) && (f[1].flags & F_ALT))
			f++;
		if (!match(g, d) && (g->flags & F_OPT))
			continue;
		if (!match(g, d) || der_read(d, &t) == -1)
			return malformed(c, g->name);
		if (g->slot != S_NONE)
			c->slot[g->slot] = t;
		/* a check refusing for a reason of its own has set it */
		if (check(c, g->chk, &t) == -1)
			return c->gi->reason[0] ? -1 : malformed(c, g->name);
		if (g->sub == NULL)
			continue;
		if (der_enter(&t, &in) == -1)
			return malformed(c, g->name);
		if (g->flags & F_MANY) {
			while (!der_done(&in))
				if (walk(c, &in, g->sub) == -1)
					return -1;
		} else if (walk(c, &in, g->sub) == -1)
			return -1;
		if (!der_done(&in))
			return refuse(c->gi, "malformed %s: trailing data in "
			    "%s", c->what, g->name);
	}
	return 0;
}

/* The extensions the rules read, walked inside their extnValue. */
static const struct field f_bc[] = {
	{ "basicConstraints", DER_SEQUENCE, 0, S_NONE, 0,
	    SUB({ "cA", DER_BOOLEAN, F_OPT, S_CA, C_BOOL, NULL },
	    { "pathLenConstraint", DER_INTEGER, F_OPT, S_NONE, C_INT, NULL }) },
	END };

static const struct {
	const uint8_t		*oid;
	size_t			 len;
	const struct field	*f;
} known[] = {
	{ O("\x55\x1d\x13"), f_bc },
	{ O("\x55\x1d\x0f"),
	    SUB({ "keyUsage", DER_BITSTRING, 0, S_KU, C_BITS, NULL }) },
	{ O("\x60\x86\x48\x01\x86\xf8\x42\x01\x01"),
	    SUB({ "nsCertType", DER_BITSTRING, 0, S_NS, C_BITS, NULL }) },
};

static int
ext_value(struct ctx *c, const struct der_tlv *t)
{
	const struct der_tlv	*oid = &c->extoid[c->next - 1];
	struct der		 d;
	size_t			 i;

	for (i = 0; i < nitems(known); i++) {
		if (!der_eq(oid->val, oid->len, known[i].oid, known[i].len))
			continue;
		der_init(&d, t->val, t->len);
		if (walk(c, &d, known[i].f) == -1)
			return -1;
		return der_done(&d) ? 0 : malformed(c, known[i].f->name);
	}
	return 0;
}

/* What a field's TLV must be, beyond its tag; -1 if not, or refused. */
static int
check(struct ctx *c, int chk, const struct der_tlv *t)
{
	char		 scratch[sizeof(c->gi->subject)];
	struct sb	 b;
	time_t		 tm;
	size_t		 i;
	int		 v;

	switch (chk) {
	case C_INT:
		return der_int(t);
	case C_SERIAL:		/* the first one goes to the audit record */
		if (der_int(t) == -1)
			return -1;
		if (c->gi->serial[0] == '\0') {
			b = sb_init(c->gi->serial, sizeof(c->gi->serial));
			sb_hex(&b, t->val, t->len);
		}
		return 0;
	case C_TIME:
		return der_time(t, &tm);
	case C_BOOL:
		return der_bool(t, &v);
	case C_EMPTY:
		return t->len == 0 ? 0 : -1;
	case C_BITS:		/* maybe IMPLICIT: just the unused-bit count */
		return t->len == 0 || t->val[0] > 7 ||
		    (t->len == 1 && t->val[0] != 0) ? -1 : 0;
	case C_NAME:
		return name_str(t, scratch, sizeof(scratch));
	case C_SUBJECT:		/* the name the audit record shows */
		return name_str(t, c->gi->subject, sizeof(c->gi->subject));
	case C_EXTS:		/* SIZE (1..MAX), each extnID once */
		c->next = 0;
		return t->len == 0 ? -1 : 0;
	case C_EXTOID:
		if (c->next == MAXEXT)
			return refuse(c->gi, "too many extensions");
		for (i = 0; i < c->next; i++)
			if (der_eq(c->extoid[i].val, c->extoid[i].len, t->val,
			    t->len))
				return refuse(c->gi, "duplicate extension");
		c->extoid[c->next++] = *t;
		return 0;
	case C_EXTVAL:
		return ext_value(c, t);
	}
	return 0;
}

static const struct field f_algid[] = {
	{ "algorithm", DER_OID, 0, S_NONE, 0, NULL },
	{ "parameters", 0, F_ANY | F_OPT, S_NONE, 0, NULL },
	END };
static const struct field f_sigalg[] = {	/* the TBS's own AlgId */
	{ "signature", DER_OID, 0, S_SIGOID, 0, NULL },
	{ "signature", 0, F_ANY | F_OPT, S_SIGPARAM, 0, NULL },
	END };
static const struct field f_spki[] = {
	{ "subjectPublicKeyInfo", DER_SEQUENCE, 0, S_NONE, 0, f_algid },
	{ "subjectPublicKey", DER_BITSTRING, 0, S_KEY, C_BITS, NULL },
	END };
static const struct field f_version[] = {
	{ "version", DER_INTEGER, 0, S_VER, 0, NULL },
	END };
static const struct field f_extlist[] = {
	{ "extension", DER_SEQUENCE, 0, S_NONE, 0,
	    SUB({ "extnID", DER_OID, 0, S_NONE, C_EXTOID, NULL },
	    { "critical", DER_BOOLEAN, F_OPT, S_NONE, C_BOOL, NULL },
	    { "extnValue", DER_OCTETSTRING, 0, S_NONE, C_EXTVAL, NULL }) },
	END };
static const struct field f_exts[] = {
	{ "extensions", DER_SEQUENCE, F_MANY, S_NONE, C_EXTS, f_extlist },
	END };

/* RFC 5280 4.1 */
static const struct field f_tbscert[] = {
	{ "version", DER_CTX(0), F_OPT, S_NONE, 0, f_version },
	{ "serialNumber", DER_INTEGER, 0, S_SERIAL, C_SERIAL, NULL },
	{ "signature", DER_SEQUENCE, 0, S_NONE, 0, f_sigalg },
	{ "issuer", DER_SEQUENCE, 0, S_ISSUER, C_NAME, NULL },
	{ "validity", DER_SEQUENCE, 0, S_NONE, 0,
	    SUB({ "validity", 0, F_TIME, S_NB, C_TIME, NULL },
	    { "validity", 0, F_TIME, S_NA, C_TIME, NULL }) },
	{ "subject", DER_SEQUENCE, 0, S_SUBJECT, C_SUBJECT, NULL },
	{ "subjectPublicKeyInfo", DER_SEQUENCE, 0, S_SPKI, 0, f_spki },
	{ "issuerUniqueID", DER_CTXP(1), F_OPT, S_UID, C_BITS, NULL },
	{ "subjectUniqueID", DER_CTXP(2), F_OPT, S_UID, C_BITS, NULL },
	{ "extensions", DER_CTX(3), F_OPT, S_EXTS, 0, f_exts },
	END };

/* RFC 5280 5.1 */
static const struct field f_tbscrl[] = {
	{ "version", DER_INTEGER, F_OPT, S_VER, 0, NULL },
	{ "signature", DER_SEQUENCE, 0, S_NONE, 0, f_sigalg },
	{ "issuer", DER_SEQUENCE, 0, S_ISSUER, C_SUBJECT, NULL },
	{ "thisUpdate", 0, F_TIME, S_NONE, C_TIME, NULL },
	{ "nextUpdate", 0, F_TIME | F_OPT, S_NONE, C_TIME, NULL },
	{ "revokedCertificates", DER_SEQUENCE, F_OPT | F_MANY, S_NONE, 0,
	    SUB({ "revoked entry", DER_SEQUENCE, 0, S_NONE, 0,
	    SUB({ "userCertificate", DER_INTEGER, 0, S_NONE, C_INT, NULL },
	    { "revocationDate", 0, F_TIME, S_NONE, C_TIME, NULL },
	    { "crlEntryExtensions", DER_SEQUENCE, F_OPT | F_MANY, S_NONE,
	    C_EXTS, f_extlist }) }) },
	{ "crlExtensions", DER_CTX(0), F_OPT, S_NONE, 0, f_exts },
	END };

/* RFC 6960 4.2.1 */
static const struct field f_single[] = {
	{ "certID", DER_SEQUENCE, 0, S_NONE, 0,
	    SUB({ "hashAlgorithm", DER_SEQUENCE, 0, S_NONE, 0, f_algid },
	    { "issuerNameHash", DER_OCTETSTRING, 0, S_NONE, 0, NULL },
	    { "issuerKeyHash", DER_OCTETSTRING, 0, S_NONE, 0, NULL },
	    { "serialNumber", DER_INTEGER, 0, S_NONE, C_SERIAL, NULL }) },
	{ "certStatus", DER_CTXP(0), F_ALT, S_NONE, C_EMPTY, NULL },
	{ "certStatus", DER_CTX(1), F_ALT, S_NONE, 0,
	    SUB({ "revocationTime", DER_GENTIME, 0, S_NONE, C_TIME, NULL },
	    { "revocationReason", DER_CTX(0), F_OPT, S_NONE, 0,
	    SUB({ "reason", DER_ENUMERATED, 0, S_NONE, 0, NULL }) }) },
	{ "certStatus", DER_CTXP(2), F_ALT, S_NONE, C_EMPTY, NULL },
	{ "thisUpdate", DER_GENTIME, 0, S_NONE, C_TIME, NULL },
	{ "nextUpdate", DER_CTX(0), F_OPT, S_NONE, 0,
	    SUB({ "nextUpdate", DER_GENTIME, 0, S_NONE, C_TIME, NULL }) },
	{ "singleExtensions", DER_CTX(1), F_OPT, S_NONE, 0, f_exts },
	END };
static const struct field f_respdata[] = {
	{ "version", DER_CTX(0), F_OPT, S_NONE, 0, f_version },
	{ "responderID", DER_CTX(1), F_ALT, S_NONE, 0,
	    SUB({ "byName", DER_SEQUENCE, 0, S_BYNAME, C_SUBJECT, NULL }) },
	{ "responderID", DER_CTX(2), F_ALT, S_NONE, 0,
	    SUB({ "responderID", DER_OCTETSTRING, 0, S_BYKEY, 0, NULL }) },
	{ "producedAt", DER_GENTIME, 0, S_NONE, C_TIME, NULL },
	{ "responses", DER_SEQUENCE, F_MANY, S_NONE, 0,
	    SUB({ "SingleResponse", DER_SEQUENCE, 0, S_NONE, 0, f_single }) },
	{ "responseExtensions", DER_CTX(1), F_OPT, S_NONE, 0, f_exts },
	END };

/* Walks the one SEQUENCE that must be all of p, with table f. */
static int
parse(struct ctx *c, const char *what, const struct field *f,
    const uint8_t *p, size_t n)
{
	const struct field	 top[] = {
		{ what, DER_SEQUENCE, 0, S_NONE, 0, f }, END };
	struct der		 d;

	c->what = what;
	der_init(&d, p, n);
	if (walk(c, &d, top) == -1)
		return -1;
	return der_done(&d) ? 0 : malformed(c, "trailing data");
}

/* The version field, v1 (0) when absent; -1 unless in [lo, hi]. */
static int
version(const struct ctx *c, int lo, int hi)
{
	const struct der_tlv	*t = &c->slot[S_VER];

	if (t->raw == NULL)
		return 0;
	if (t->len != 1 || t->val[0] < lo || t->val[0] > hi)
		return -1;
	return t->val[0];
}

enum { P_ABSENT, P_NULL, P_ANY };

#define ECDSA	"\x2a\x86\x48\xce\x3d\x04\x03"		/* 1.2.840.10045.4.3 */
#define PKCS1	"\x2a\x86\x48\x86\xf7\x0d\x01\x01"	/* 1.2.840.113549.1.1 */

static const struct {
	uint8_t		 alg;
	const uint8_t	*oid;
	size_t		 len;
	int		 params;
} sigalgs[] = {
	{ ALG_ECDSA_SHA256,	O(ECDSA "\x02"), P_ABSENT },
	{ ALG_ECDSA_SHA384,	O(ECDSA "\x03"), P_ABSENT },
	{ ALG_ECDSA_SHA512,	O(ECDSA "\x04"), P_ABSENT },
	{ ALG_RSA_PKCS1_SHA256,	O(PKCS1 "\x0b"), P_NULL },
	{ ALG_RSA_PKCS1_SHA384,	O(PKCS1 "\x0c"), P_NULL },
	{ ALG_RSA_PKCS1_SHA512,	O(PKCS1 "\x0d"), P_NULL },
	{ ALG_RSA_PSS_SHA256,	O(PKCS1 "\x0a"), P_ANY },
	{ ALG_RSA_PSS_SHA384,	O(PKCS1 "\x0a"), P_ANY },
	{ ALG_RSA_PSS_SHA512,	O(PKCS1 "\x0a"), P_ANY },
	{ ALG_ED25519,		O("\x2b\x65\x70"), P_ABSENT },
};

/* The signature field must name the algorithm the signer will use. */
static int
sigalg(struct ctx *c)
{
	const struct der_tlv	*oid = &c->slot[S_SIGOID];
	const struct der_tlv	*param = &c->slot[S_SIGPARAM];
	size_t			 i;

	for (i = 0; i < nitems(sigalgs) && sigalgs[i].alg != c->alg; i++)
		;
	if (i == nitems(sigalgs))
		return refuse(c->gi, "unknown signature algorithm %u", c->alg);
	if (!der_eq(oid->val, oid->len, sigalgs[i].oid, sigalgs[i].len) ||
	    (param->raw != NULL && (sigalgs[i].params == P_ABSENT ||
	    (sigalgs[i].params == P_NULL && (param->tag != DER_NULL ||
	    param->len != 0)))))
		return refuse(c->gi, "%s signature algorithm is not the "
		    "requested one", c->what);
	return 0;
}

static int
same(const struct der_tlv *t, const uint8_t *p, size_t n)
{
	return der_eq(t->raw, t->rawlen, p, n);
}

/* The first octet of a BIT STRING's bits; 0 when absent or empty. */
static int
bits0(const struct der_tlv *t)
{
	return t->raw != NULL && t->len > 1 ? t->val[1] : 0;
}

static int
check_cert(struct ctx *c, const uint8_t *p, size_t n)
{
	const struct guard_key	*k = c->k;
	const struct der_tlv	*s = c->slot;
	time_t			 nb, na;
	int			 v, mine;

	if (parse(c, "TBSCertificate", f_tbscert, p, n) == -1)
		return -1;
	if ((v = version(c, 1, 2)) == -1 || (s[S_UID].raw != NULL && v < 1) ||
	    (s[S_EXTS].raw != NULL && v < 2))
		return malformed(c, "version");
	if (sigalg(c) == -1)
		return -1;
	/* RFC 5280 allows 20 octets; the audit record must hold it all. */
	if (s[S_SERIAL].len > 21 || (s[S_SERIAL].len == 21 &&
	    s[S_SERIAL].val[0] != 0))
		return refuse(c->gi, "serialNumber longer than 20 octets");
	if (der_time(&s[S_NB], &nb) == -1 || der_time(&s[S_NA], &na) == -1 ||
	    na < nb)
		return refuse(c->gi, "notAfter is before notBefore");
	mine = same(&s[S_ISSUER], k->subject, k->subjectlen);
	if (k->role == ROLE_ROOT) {
		/* Self-signed with this key: how the root certificate is made */
		if (same(&s[S_ISSUER], s[S_SUBJECT].raw, s[S_SUBJECT].rawlen) &&
		    same(&s[S_SPKI], k->spki, k->spkilen))
			return 0;
		if (!mine)
			return refuse(c->gi, "issuer is not this CA, nor is "
			    "this self-signed with its key");
	} else {
		if (!mine)
			return refuse(c->gi, "issuer is not this CA");
		/*
		 * Without basicConstraints OpenSSL also takes keyCertSign in
		 * keyUsage, or a Netscape CA cert type, for a CA.
		 */
		if ((s[S_CA].raw != NULL && s[S_CA].val[0] != 0) ||
		    (bits0(&s[S_KU]) & 0x04) || (bits0(&s[S_NS]) & 0x07))
			return refuse(c->gi, "issuing key may not sign a CA "
			    "certificate");
		if (same(&s[S_SUBJECT], k->subject, k->subjectlen))
			return refuse(c->gi, "subject is the CA's own name");
	}
	if (nb < k->not_before || na > k->not_after)
		return refuse(c->gi, "validity is outside the CA's validity");
	return 0;
}

static int
check_crl(struct ctx *c, const uint8_t *p, size_t n)
{
	if (parse(c, "TBSCertList", f_tbscrl, p, n) == -1)
		return -1;
	if (version(c, 1, 1) == -1)
		return malformed(c, "version");
	if (sigalg(c) == -1)
		return -1;
	if (!same(&c->slot[S_ISSUER], c->k->subject, c->k->subjectlen))
		return refuse(c->gi, c->k->subject == NULL ? "key has no "
		    "certificate subject" : "CRL issuer is not this CA");
	return 0;
}

static int
check_ocsp(struct ctx *c, const uint8_t *p, size_t n)
{
	const struct der_tlv	*id = &c->slot[S_BYKEY];
	struct ctx		 kc = { .gi = c->gi, .what = "key" };
	struct sb		 b;
	uint8_t			 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;

	if (parse(c, "ResponseData", f_respdata, p, n) == -1)
		return -1;
	if (version(c, 0, 0) == -1)
		return malformed(c, "version");
	if (c->slot[S_BYNAME].raw != NULL) {
		if (!same(&c->slot[S_BYNAME], c->k->subject, c->k->subjectlen))
			return refuse(c->gi, "responder name is not this CA");
		return 0;
	}
	b = sb_init(c->gi->subject, sizeof(c->gi->subject));
	sb_puts(&b, "keyHash=");
	sb_hex(&b, id->val, id->len);
	/* byKey is the SHA-1 of the key's BIT STRING, unused-bit octet off */
	if (parse(&kc, "subjectPublicKeyInfo", f_spki, c->k->spki,
	    c->k->spkilen) == -1 || kc.slot[S_KEY].val[0] != 0)
		return refuse(c->gi, "key has no usable public key");
	if (EVP_Digest(kc.slot[S_KEY].val + 1, kc.slot[S_KEY].len - 1, md,
	    &mdlen, EVP_sha1(), NULL) != 1)
		return refuse(c->gi, "cannot compute SHA-1");
	if (!der_eq(id->val, id->len, md, mdlen))
		return refuse(c->gi, "responder key hash is not this CA's key");
	return 0;
}

/* SSH wire reads (RFC 4251): a big-endian uint of nb bytes, a string. */
static int
ssh_uint(struct der *s, size_t nb, uint64_t *v)
{
	if (s->n < nb)
		return -1;
	for (*v = 0; nb > 0; nb--, s->n--)
		*v = *v << 8 | *s->p++;
	return 0;
}

static int
ssh_str(struct der *s, struct der *str)
{
	uint64_t	 len;

	if (ssh_uint(s, 4, &len) == -1 || len > s->n)
		return -1;
	der_init(str, s->p, len);
	s->p += len;
	s->n -= len;
	return 0;
}

/* A positive mpint, minimally encoded. */
static int
ssh_mpint(struct der *s)
{
	struct der	 m;

	if (ssh_str(s, &m) == -1 || m.n == 0 || (m.p[0] & 0x80) != 0 ||
	    (m.p[0] == 0 && (m.n == 1 || (m.p[1] & 0x80) == 0)))
		return -1;
	return 0;
}

/* A string holding strings, `group` at a time (names, name+data). */
static int
ssh_list(struct der *s, int group)
{
	struct der	 l, item;
	int		 i;

	if (ssh_str(s, &l) == -1)
		return -1;
	while (l.n > 0)
		for (i = 0; i < group; i++)
			if (ssh_str(&l, &item) == -1)
				return -1;
	return 0;
}

enum { K_ED25519, K_RSA, K_ECDSA };

static const struct {
	const char	*type;
	int		 key;
	const char	*curve;		/* ECDSA: the curve string it carries */
} sshtypes[] = {
	{ "ssh-ed25519-cert-v01@openssh.com", K_ED25519, NULL },
	{ "ssh-rsa-cert-v01@openssh.com", K_RSA, NULL },
	{ "ecdsa-sha2-nistp256-cert-v01@openssh.com", K_ECDSA, "nistp256" },
	{ "ecdsa-sha2-nistp384-cert-v01@openssh.com", K_ECDSA, "nistp384" },
	{ "ecdsa-sha2-nistp521-cert-v01@openssh.com", K_ECDSA, "nistp521" },
};

static int
check_ssh(struct ctx *c, const uint8_t *p, size_t n)
{
	struct der	 s, v, sigkey;
	struct sb	 b;
	uint64_t	 serial, type, t;
	size_t		 i;

	c->what = "SSH certificate";
	der_init(&s, p, n);
	if (ssh_str(&s, &v) == -1)
		return malformed(c, "type");
	for (i = 0; i < nitems(sshtypes); i++)
		if (der_eq(v.p, v.n, sshtypes[i].type,
		    strlen(sshtypes[i].type)))
			break;
	if (i == nitems(sshtypes))
		return refuse(c->gi, "unsupported SSH certificate type");
	if (ssh_str(&s, &v) == -1)
		return malformed(c, "nonce");
	/* the certified key: string pk; mpint e, n; string curve, Q */
	if ((sshtypes[i].key == K_ED25519 && (ssh_str(&s, &v) == -1 ||
	    v.n != 32)) || (sshtypes[i].key == K_RSA && (ssh_mpint(&s) == -1 ||
	    ssh_mpint(&s) == -1)) || (sshtypes[i].key == K_ECDSA &&
	    (ssh_str(&s, &v) == -1 || !der_eq(v.p, v.n, sshtypes[i].curve,
	    strlen(sshtypes[i].curve)) || ssh_str(&s, &v) == -1 || v.n == 0)))
		return malformed(c, "public key");
	if (ssh_uint(&s, 8, &serial) == -1)
		return malformed(c, "serial");
	snprintf(c->gi->serial, sizeof(c->gi->serial), "%016" PRIx64, serial);
	if (ssh_uint(&s, 4, &type) == -1 || ssh_str(&s, &v) == -1)
		return malformed(c, "type or key id");
	b = sb_init(c->gi->subject, sizeof(c->gi->subject));
	sb_text(&b, v.p, v.n, "");
	if (ssh_list(&s, 1) == -1 || ssh_uint(&s, 8, &t) == -1 ||
	    ssh_uint(&s, 8, &t) == -1)
		return malformed(c, "principals or validity");
	if (ssh_list(&s, 2) == -1 || ssh_list(&s, 2) == -1)
		return malformed(c, "critical options or extensions");
	if (ssh_str(&s, &v) == -1 || ssh_str(&s, &sigkey) == -1)
		return malformed(c, "reserved or signature key");
	if (!der_done(&s))
		return malformed(c, "trailing data");

	if (type != 1 && type != 2)
		return refuse(c->gi, "SSH certificate type %" PRIu64
		    " is neither user nor host", type);
	if (!der_eq(sigkey.p, sigkey.n, c->k->sshpub, c->k->sshpublen))
		return refuse(c->gi, "signature key is not this CA's key");
	return 0;
}

/* All that each role may sign; whatever is not here is refused. */
static const struct {
	enum guard_role	 role;
	uint8_t		 kind;
	int		 ceremony;	/* only in ceremony mode */
	int		(*fn)(struct ctx *, const uint8_t *, size_t);
} rules[] = {
	{ ROLE_ISSUING,	KIND_X509_TBS,	0, check_cert },
	{ ROLE_ISSUING,	KIND_CRL_TBS,	0, check_crl },
	{ ROLE_ISSUING,	KIND_OCSP_TBS,	0, check_ocsp },
	{ ROLE_ROOT,	KIND_X509_TBS,	1, check_cert },
	{ ROLE_ROOT,	KIND_CRL_TBS,	1, check_crl },
	{ ROLE_SSH,	KIND_SSH_CERT,	0, check_ssh },
};

int
guard_check(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, struct guard_info *info)
{
	struct guard_info	 scratch;
	struct ctx		 c = { .k = k, .alg = alg, .gi = info };
	size_t			 i;

	if (info == NULL)
		c.gi = info = &scratch;
	info->serial[0] = info->subject[0] = info->reason[0] = '\0';
	if (k == NULL)
		return refuse(info, "no key");
	for (i = 0; i < nitems(rules); i++) {
		if (rules[i].role != k->role || rules[i].kind != kind)
			continue;
		if (rules[i].ceremony && !k->ceremony)
			return refuse(info, "root key signs only in ceremony "
			    "mode");
		return rules[i].fn(&c, p, n);
	}
	return refuse(info, "payload kind %u is not allowed for this key",
	    kind);
}
