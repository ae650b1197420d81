/*
 * guard.c — decides from the payload itself whether a key may sign it.
 *
 * Each kind is parsed completely and strictly before any rule applies: a
 * blob that two parsers read differently is how guards get bypassed, so
 * whatever is not exactly as expected is refused. The ASN.1 kinds are
 * described field by field, after the RFCs' modules, in strings that
 * walk() reads along with the payload.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/sha.h>

#include "hsm/der.h"
#include "hsm/guard.h"
#include "hsm/proto.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define SLOT(c, x)	(&(c)->slot[(x) - 'A'])
#define IS(ch)		(fl >> ((ch) - '=') & 1)	/* a flag in walk() */
#define HEX(ch)		((ch) <= '9' ? (ch) - '0' : (ch) - 'a' + 10)
enum { MAXRDN = 64, MAXEXT = 64 };	/* bound the stack: names have < 10 */
#define SAME(t, p, n)	der_eq((t)->raw, (t)->rawlen, (p), (n))
#define BITS0(t)	((t)->len > 1 ? (t)->val[1] : 0) /* a BIT STRING's */
#define BE32(p) ((uint32_t)(p)[0] << 24 | (p)[1] << 16 | (p)[2] << 8 | (p)[3])
#define sb_puts(s, sz, str) sb_add((s), (sz), (str), strlen(str), "")

#define REASON(gi)	(gi)->reason, sizeof((gi)->reason) /* buffer, size */
#define refuse(gi, ...)	(snprintf(REASON(gi), __VA_ARGS__), -1)
#define malformed(c, name, len) refuse((c)->gi, "malformed %s: %.*s", \
			    (c)->what, (int)(len), (name))

struct ctx {
	const struct guard_key	*k;
	uint8_t			 alg;
	struct guard_info	*gi;
	const char		*what;	/* structure name, for reasons */
	const char		*end;	/* the ')' that ended the last walk() */
	struct der_tlv		 slot[26]; /* kept by walk(); .raw NULL */
	struct der_tlv		 extoid[MAXEXT]; /* this Extensions' so far */
	size_t			 next;
};

static int	walk(struct ctx *, struct der *, const char *);

/*
 * Appends p[0..n) to the string in s[0..sz), cut to fit, never overrun:
 * as hex when esc is NULL, else printable ASCII as is (a backslash before
 * those in esc) and the rest as \xNN, so that audit lines stay one line.
 */
static void
sb_add(char *s, size_t sz, const void *v, size_t n, const char *esc)
{
	const uint8_t	*p = v;
	size_t		 len = strlen(s);
	char		 x[4] = "\\";
	int		 i, k;

	for (; n > 0 && len + 1 < sz; p++, n--) {
		/* x[i..k): the hex, \xNN, \c or c that *p is written as */
		k = esc == NULL || *p < 0x20 || *p > 0x7e || *p == '\\' ? 4 : 2;
		x[1] = k == 4 ? 'x' : *p;
		x[2] = "0123456789abcdef"[*p >> 4];
		x[3] = "0123456789abcdef"[*p & 0xf];
		for (i = esc == NULL ? 2 : k == 4 || strchr(esc, *p) ? 0 : 1;
		    i < k && len + 1 < sz; i++)
			s[len++] = x[i];
		s[len] = '\0';
	}
}

/*
 * The usual attribute types, by name: each the OID's length and contents,
 * then the name OpenSSL gives it.
 */
static const char *const attrs[] = {
	"\3\x55\x04\x03" "CN", "\3\x55\x04\x0a" "O", "\3\x55\x04\x0b" "OU",
	"\3\x55\x04\x06" "C", "\3\x55\x04\x07" "L", "\3\x55\x04\x08" "ST",
	"\3\x55\x04\x05" "serialNumber",
	"\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01" "emailAddress",
	"\x0a\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19" "DC",
};

/*
 * An attribute type: the usual ones from attrs[], fast and without
 * allocating; the rest dotted, by OpenSSL, which also refuses OIDs that
 * are not DER (and allocates for those it does not know).
 */
static int
attr_type(char *out, size_t outsz, const struct der_tlv *oid)
{
	ASN1_OBJECT	*obj;
	const uint8_t	*p = oid->raw;
	char		 buf[128];
	int		 r;

	for (r = 0; r < (int)nitems(attrs); r++)
		if (der_eq(oid->val, oid->len, attrs[r] + 1, *attrs[r]))
			return (sb_puts(out, outsz, attrs[r] + 1 + *attrs[r]),
			    0);
	if ((obj = d2i_ASN1_OBJECT(NULL, &p, oid->rawlen)) == NULL)
		return -1;
	r = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
	ASN1_OBJECT_free(obj);
	sb_puts(out, outsz, buf);	/* "" when r <= 0 */
	return r > 0 ? 0 : -1;
}

/*
 * Checks the RDNs left in d, at least one, and writes them RFC 4514 style
 * after out, the last one first; depth bounds the recursion, as MAXRDN
 * the RDNs. A malformed Name leaves out "".
 */
static int
rdns(struct der *d, char *out, size_t outsz, int depth)
{
	struct der	 rd, a;
	struct der_tlv	 rdn, atv, oid, v;
	size_t		 i;
	int		 text, last;

	if (depth == MAXRDN || der_expect(d, DER_SET, &rdn) == -1 ||
	    (!(last = der_done(d)) && rdns(d, out, outsz, depth + 1) == -1) ||
	    der_enter(&rdn, &rd) == -1 || der_done(&rd))
		goto bad;
	sb_puts(out, outsz, last ? "" : ",");
	/* AttributeTypeAndValues, as TYPE=value or TYPE=#hex-of-the-TLV */
	while (!der_done(&rd)) {
		if (der_expect(&rd, DER_SEQUENCE, &atv) == -1 ||
		    der_enter(&atv, &a) == -1 ||
		    der_expect(&a, DER_OID, &oid) == -1 ||
		    der_read(&a, &v) == -1 || !der_done(&a) ||
		    attr_type(out, outsz, &oid) == -1)
			goto bad;
		/* UTF8, Numeric, Printable, Teletex, IA5 and Visible strings */
		text = memchr("\x0c\x12\x13\x14\x16\x1a", v.tag, 6) != NULL;
		for (i = 0; text && i < v.len; i++)
			text = v.val[i] >= 0x20 && v.val[i] <= 0x7e;
		sb_puts(out, outsz, text ? "=" : "=#");
		sb_add(out, outsz, text ? v.val : v.raw, text ? v.len :
		    v.rawlen, text ? ",+\"<>;" : NULL);
		sb_puts(out, outsz, der_done(&rd) ? "" : "+");
	}
	return 0;
 bad:
	if (depth == 0)
		out[0] = '\0';
	return -1;
}

/*
 * The ASN.1 kinds, as walk() reads them: fields NAME:TAG FLAGS, those of a
 * constructed one after it in parentheses. TAG is two hex digits, or **
 * for anything. FLAGS:
 *	?	OPTIONAL
 *	|	the alternative to the field before (CHOICE): skipped when that
 *		was read, else required unless also ?
 *	@	SEQUENCE OF: its fields again until its contents end
 *	=X	kept in slot X, for the rules
 * and what the TLV must also be: i a minimal INTEGER, s one the audit
 * record takes as the serial if it is the first, t a real time, b a DER
 * BOOLEAN, e empty, k a BIT STRING (maybe IMPLICIT: just its unused-bit
 * count), n a Name, u the Name the audit record shows, x Extensions, d
 * an extnID not seen yet in them, v an extnValue, read if in known[]. A
 * Time is a CHOICE of UTCTime (17) and GeneralizedTime (18).
 */
#define VERSION	"version:a0?(version:02=V)"
#define ALGID	"(algorithm:06 parameters:**?)"
#define SIGALG	"signature:30(signature:06=A signature:**?=P)"
#define SPKI	"subjectPublicKeyInfo:30" ALGID " subjectPublicKey:03k=Y"
#define EXTLIST	"(extension:30(extnID:06d=O critical:01?b extnValue:04v))"
#define EXTS	"(extensions:30@x" EXTLIST ")"

/* RFC 5280 4.1 */
static const char tbscert[] = "TBSCertificate:30(" VERSION
    " serialNumber:02s=S " SIGALG " issuer:30n=I validity:30(validity:17?t=B "
    "validity:18|t=B validity:17?t=E validity:18|t=E) subject:30u=U "
    "subjectPublicKeyInfo:30=K(" SPKI ") issuerUniqueID:81?k=Q "
    "subjectUniqueID:82?k=Q extensions:a3?=X" EXTS ")";

/* RFC 5280 5.1 */
static const char tbscrl[] = "TBSCertList:30(version:02?=V " SIGALG
    " issuer:30u=I thisUpdate:17?t thisUpdate:18|t nextUpdate:17?t "
    "nextUpdate:18|?t revokedCertificates:30?@(revoked entry:30("
    "userCertificate:02i revocationDate:17?t revocationDate:18|t "
    "crlEntryExtensions:30?@x" EXTLIST ")) crlExtensions:a0?" EXTS ")";

/* RFC 6960 4.2.1 */
static const char respdata[] = "ResponseData:30(" VERSION
    " responderID:a1?(byName:30u=R) responderID:a2|(responderID:04=W) "
    "producedAt:18t responses:30@(SingleResponse:30(certID:30(hashAlgorithm:30"
    ALGID " issuerNameHash:04 issuerKeyHash:04 serialNumber:02s) "
    "certStatus:80?e certStatus:a1|?(revocationTime:18t revocationReason:a0?("
    "reason:0a)) certStatus:82|e thisUpdate:18t nextUpdate:a0?(nextUpdate:18t)"
    " singleExtensions:a1?" EXTS ")) responseExtensions:a1?" EXTS ")";

/*
 * The extensions the rules read: each the OID's length and contents, then
 * what walk() reads in its extnValue.
 */
static const char *const known[] = {
	"\3\x55\x1d\x13"
	    "basicConstraints:30(cA:01?b=C pathLenConstraint:02?i)",
	"\3\x55\x1d\x0f" "keyUsage:03k=G",
	"\x09\x60\x86\x48\x01\x86\xf8\x42\x01\x01" "nsCertType:03k=H",
};

/*
 * An extnID (d), or an extnValue (v) for the extnID before it (slot O);
 * -1 with the reason set.
 */
static int
ext(struct ctx *c, const struct der_tlv *t, int value)
{
	const struct der_tlv	*oid = value ? SLOT(c, 'O') : c->extoid;
	const char		*s;
	struct der		 d;
	size_t			 i;

	if (!value) {
		if (c->next == MAXEXT)
			return refuse(c->gi, "too many extensions");
		for (i = 0; i < c->next; i++)
			if (der_eq(oid[i].val, oid[i].len, t->val, t->len))
				return refuse(c->gi, "duplicate extension");
		c->extoid[c->next++] = *t;
		return 0;
	}
	for (i = 0; i < nitems(known); i++) {
		if (!der_eq(oid->val, oid->len, known[i] + 1, *known[i]))
			continue;
		der_init(&d, t->val, t->len);
		s = known[i] + 1 + *known[i];
		return walk(c, &d, s) == -1 ? -1 : der_done(&d) ? 0 :
		    malformed(c, s, strcspn(s, ":"));
	}
	return 0;
}

/*
 * Reads the fields of spec s off d, up to the ')' that ends them: each TLV
 * checked and kept in its slot, its own fields walked (again and again for
 * a SEQUENCE OF) and its contents then used up. Specs nest a few levels
 * deep, which bounds the recursion.
 */
static int
walk(struct ctx *c, struct der *d, const char *s)
{
	const char	*name, *f;
	struct der_tlv	 t;
	struct der	 in = { NULL, 0 };
	char		 none[1] = "";
	time_t		 tm;
	int		 tag, p, i, len, v, alt, got = 0;
	uint64_t	 fl;

	for (; *s != '\0' && *s != ')'; s += strspn(s, " ")) {
		len = strchr(name = s, ':') - s;
		f = name + len + 3;	/* past NAME:TAG, at the flags */
		p = der_peek(d);
		tag = f[-2] == '*' ? p : HEX(f[-2]) << 4 | HEX(f[-1]);
		/* flags (each in '='..'|') as bits, up to ' ', '(' or ')' */
		for (fl = 0, s = f; *s > ')'; s++)
			fl |= 1ULL << (*s - '=');
		alt = IS('|') && got;
		if (!(got = alt || (p != -1 && p == tag)) && !IS('?'))
			return malformed(c, name, len);
		if (!got || alt)
			goto skip;
		/*
		 * in: the contents of fields with their own, or Names, all
		 * constructed. x: a new Extensions, SIZE (1..MAX), begins.
		 */
		if (der_read(d, &t) == -1 ||
		    (der_enter(&t, &in) == -1 && *s == '(') ||
		    ((IS('i') || IS('s')) && der_int(&t) == -1) ||
		    (IS('t') && der_time(&t, &tm) == -1) ||
		    (IS('b') && der_bool(&t, &v) == -1) ||
		    (IS('e') && t.len != 0) ||
		    (IS('x') && (c->next = 0, t.len == 0)) ||
		    (IS('k') && (t.len == 0 || t.val[0] > 7 ||
		    (t.len == 1 && t.val[0] != 0))) ||
		    (IS('n') && !der_done(&in) && rdns(&in, none, 1, 0) ==
		    -1) ||
		    (IS('u') && !der_done(&in) && rdns(&in, c->gi->subject,
		    sizeof(c->gi->subject), 0) == -1) ||
		    (IS('d') && ext(c, &t, 0) == -1) ||
		    (IS('v') && ext(c, &t, 1) == -1))
			return c->gi->reason[0] ? -1 : malformed(c, name, len);
		if (IS('='))		/* "=X" ends the flags */
			*SLOT(c, s[-1]) = t;
		if (IS('s') && c->gi->serial[0] == '\0')
			sb_add(c->gi->serial, sizeof(c->gi->serial), t.val,
			    t.len, NULL);
		for (i = 0; *s == '(' && (IS('@') ? !der_done(&in) : i == 0);
		    i++)
			if (walk(c, &in, s + 1) == -1)
				return -1;
		if (*s == '(' && !der_done(&in))
			return refuse(c->gi, "malformed %s: trailing data in "
			    "%.*s", c->what, len, name);
		if (i > 0)		/* walked, up to its ')' */
			s = c->end + 1;
 skip:		/* past the parenthesised fields of one not walked */
		for (i = 0; *s == '(' || i > 0; s++)
			if ((i += (*s == '(') - (*s == ')')) > 0)
				s += strcspn(s + 1, "()");
	}
	c->end = s;
	return 0;
}

/*
 * Each algorithm's signature AlgorithmIdentifier: its parameters, A
 * absent, N absent or NULL, * anything; then its OID. The SHA-256, -384
 * and -512 variants follow each other: ECDSA 1.2.840.10045.4.3.n, PKCS#1
 * 1.2.840.113549.1.1.n.
 */
#define ECDSA(n) "A\x2a\x86\x48\xce\x3d\x04\x03" n
#define PKCS1(n) "N\x2a\x86\x48\x86\xf7\x0d\x01\x01" n
#define PSS	"*\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"
static const char *const sigalgs[ALG_MAX + 1] = {
	[ALG_ECDSA_SHA256] = ECDSA("\2"), ECDSA("\3"), ECDSA("\4"),
	[ALG_RSA_PKCS1_SHA256] = PKCS1("\13"), PKCS1("\14"), PKCS1("\15"),
	[ALG_RSA_PSS_SHA256] = PSS, PSS, PSS,
	[ALG_ED25519] = "A\x2b\x65\x70",
};

/*
 * Walks the one SEQUENCE that must be all of p with spec s. Then the
 * version, v1 (0) when absent, must be in [lo, hi], and at least v2 for
 * unique IDs, v3 for extensions; and the signature field, when the kind
 * has one, must name the algorithm the signer will use.
 */
static int
parse(struct ctx *c, const char *what, const char *s, const uint8_t *p,
    size_t n, int lo, int hi)
{
	const struct der_tlv	*ver = SLOT(c, 'V'), *oid = SLOT(c, 'A');
	const char		*a;
	struct der		 d;
	int			 v;

	c->what = what;
	der_init(&d, p, n);
	if (walk(c, &d, s) == -1)
		return -1;
	if (!der_done(&d))
		return malformed(c, "trailing data", -1);
	v = ver->raw == NULL ? 0 : ver->len == 1 ? ver->val[0] : -1;
	if ((ver->raw != NULL && (v < lo || v > hi)) ||
	    (SLOT(c, 'Q')->raw != NULL && v < 1) ||
	    (SLOT(c, 'X')->raw != NULL && v < 2))
		return malformed(c, "version", -1);
	if (oid->raw == NULL)
		return 0;
	if (c->alg > ALG_MAX || (a = sigalgs[c->alg]) == NULL)
		return refuse(c->gi, "unknown signature algorithm %u", c->alg);
	if (!der_eq(oid->val, oid->len, a + 1, strlen(a + 1)) ||
	    (SLOT(c, 'P')->raw != NULL && (*a == 'A' ||
	    (*a == 'N' && !SAME(SLOT(c, 'P'), "\x05\x00", 2)))))
		return refuse(c->gi, "%s signature algorithm is not the "
		    "requested one", c->what);
	return 0;
}

/*
 * 1 when extensions (the [3] TLV) hold an extKeyUsage naming
 * id-kp-OCSPSigning, or cannot be read far enough to tell.
 */
static int
ocsp_signing(const struct der_tlv *x)
{
	static const uint8_t	 eku[] = { 0x06, 0x03, 0x55, 0x1d, 0x25 };
	static const uint8_t	 kp[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
	    0x05, 0x07, 0x03, 0x09 };
	struct der		 d, e, v, l;
	struct der_tlv		 t, oid, val;

	if (x->raw == NULL)
		return 0;
	if (der_enter(x, &d) == -1 || der_expect(&d, DER_SEQUENCE, &t) ==
	    -1 || der_enter(&t, &e) == -1)
		return 1;
	while (!der_done(&e)) {
		if (der_expect(&e, DER_SEQUENCE, &t) == -1 ||
		    der_enter(&t, &v) == -1 ||
		    der_expect(&v, DER_OID, &oid) == -1)
			return 1;
		if (!der_eq(oid.raw, oid.rawlen, eku, sizeof(eku)))
			continue;
		if (der_opt(&v, DER_BOOLEAN, &val) == -1 ||
		    der_expect(&v, DER_OCTETSTRING, &val) == -1)
			return 1;
		der_init(&l, val.val, val.len);
		if (der_expect(&l, DER_SEQUENCE, &t) == -1 ||
		    der_enter(&t, &l) == -1)
			return 1;
		while (!der_done(&l))
			if (der_expect(&l, DER_OID, &oid) == -1 ||
			    der_eq(oid.raw, oid.rawlen, kp, sizeof(kp)))
				return 1;
	}
	return 0;
}

static int
check_cert(struct ctx *c, const uint8_t *p, size_t n)
{
	const struct guard_key	*k = c->k;
	const struct der_tlv	*iss = SLOT(c, 'I'), *sub = SLOT(c, 'U');
	const struct der_tlv	*sn = SLOT(c, 'S'), *ca = SLOT(c, 'C');
	time_t			 nb, na;
	int			 root = k->role == ROLE_ROOT;

	if (parse(c, "TBSCertificate", tbscert, p, n, 1, 2) == -1)
		return -1;
	/* RFC 5280 allows 20 octets; the audit record must hold it all. */
	if (sn->len > 21 || (sn->len == 21 && sn->val[0] != 0))
		return refuse(c->gi, "serialNumber longer than 20 octets");
	if (der_time(SLOT(c, 'B'), &nb) == -1 ||
	    der_time(SLOT(c, 'E'), &na) == -1 || na < nb)
		return refuse(c->gi, "notAfter is before notBefore");
	/* Self-signed with this key: how the root certificate is made */
	if (root && SAME(iss, sub->raw, sub->rawlen) &&
	    SAME(SLOT(c, 'K'), k->spki, k->spkilen))
		return 0;
	if (!SAME(iss, k->subject, k->subjectlen))
		return refuse(c->gi, root ? "issuer is not this CA, nor is "
		    "this self-signed with its key" : "issuer is not this CA");
	/*
	 * Without basicConstraints OpenSSL also takes keyCertSign in
	 * keyUsage, or a Netscape CA cert type, for a CA.
	 */
	if (!root && ((ca->len == 1 && ca->val[0] != 0) ||
	    (BITS0(SLOT(c, 'G')) & 0x04) || (BITS0(SLOT(c, 'H')) & 0x07)))
		return refuse(c->gi, "issuing key may not sign a CA "
		    "certificate");
	if (!root && SAME(sub, k->subject, k->subjectlen))
		return refuse(c->gi, "subject is the CA's own name");
	/*
	 * A delegated OCSP responder speaks for the CA: only the signer's
	 * own ocsp key may be one, never a key the front end brings.
	 */
	if (!root && ocsp_signing(SLOT(c, 'X')) &&
	    (k->ocsp_spki == NULL || !SAME(SLOT(c, 'K'), k->ocsp_spki,
	    k->ocsp_spkilen)))
		return refuse(c->gi, "an OCSP signing certificate is only for "
		    "the signer's own ocsp key");
	if (nb < k->not_before || na > k->not_after)
		return refuse(c->gi, "validity is outside the CA's validity");
	return 0;
}

static int
check_crl(struct ctx *c, const uint8_t *p, size_t n)
{
	if (parse(c, "TBSCertList", tbscrl, p, n, 1, 1) == -1)
		return -1;
	return SAME(SLOT(c, 'I'), c->k->subject, c->k->subjectlen) ? 0 :
	    refuse(c->gi, c->k->subject == NULL ? "key has no certificate "
	    "subject" : "CRL issuer is not this CA");
}

static int
check_ocsp(struct ctx *c, const uint8_t *p, size_t n)
{
	const struct der_tlv	*id = SLOT(c, 'W'), *key = SLOT(c, 'Y');
	uint8_t			 md[SHA_DIGEST_LENGTH];

	if (parse(c, "ResponseData", respdata, p, n, 0, 0) == -1)
		return -1;
	if (SLOT(c, 'R')->raw != NULL)
		return SAME(SLOT(c, 'R'), c->k->subject, c->k->subjectlen) ?
		    0 : refuse(c->gi, "responder name is not this CA");
	sb_puts(c->gi->subject, sizeof(c->gi->subject), "keyHash=");
	sb_add(c->gi->subject, sizeof(c->gi->subject), id->val, id->len, NULL);
	/*
	 * byKey is the SHA-1 of the key's BIT STRING, unused-bit octet off.
	 * (The version parse() checks again is ResponseData's, found good.)
	 */
	if (parse(c, "key", "key:30(" SPKI ")", c->k->spki, c->k->spkilen,
	    0, 0) == -1 || key->val[0] != 0)
		return refuse(c->gi, "key has no usable public key");
	if (SHA1(key->val + 1, key->len - 1, md) == NULL)
		return refuse(c->gi, "cannot compute SHA-1");
	if (!der_eq(id->val, id->len, md, sizeof(md)))
		return refuse(c->gi, "responder key hash is not this CA's key");
	return 0;
}

/*
 * Takes an SSH wire field (RFC 4251) off s into *v: nb octets, or with nb
 * 0 a string, its uint32 length first; with group, a string holding
 * strings, group at a time (names; name and data).
 */
static int
ssh_get(struct der *s, size_t nb, struct der *v, int group)
{
	struct der	 l, item;
	int		 i;

	if (nb == 0 && ssh_get(s, 4, v, 0) == -1)
		return -1;
	if (nb == 0)
		nb = BE32(v->p);
	if (nb > s->n)
		return -1;
	der_init(v, s->p, nb);
	s->p += nb;
	s->n -= nb;
	for (l = *v, i = 0; group > 0 && l.n > 0; i++)
		if (ssh_get(&l, 0, &item, 0) == -1)
			return -1;
	return group > 0 && i % group != 0 ? -1 : 0;
}

/* Ed25519, RSA, then ECDSA types, whose curve name is in the type. */
static const char *const sshtypes[] = {
	"ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
	"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ecdsa-sha2-nistp384-cert-v01@openssh.com",
	"ecdsa-sha2-nistp521-cert-v01@openssh.com",
};

static int
check_ssh(struct ctx *c, const uint8_t *p, size_t n)
{
	struct der	 s, v, type, sigkey;
	size_t		 i, j;

	c->what = "SSH certificate";
	der_init(&s, p, n);
	if (ssh_get(&s, 0, &v, 0) == -1)
		return malformed(c, "type", -1);
	for (i = 0; i < nitems(sshtypes) && !der_eq(v.p, v.n, sshtypes[i],
	    strlen(sshtypes[i])); i++)
		;
	if (i == nitems(sshtypes))
		return refuse(c->gi, "unsupported SSH certificate type");
	if (ssh_get(&s, 0, &v, 0) == -1)
		return malformed(c, "nonce", -1);
	/*
	 * The certified key: string pk (32 octets); mpint e, n (positive,
	 * minimal); string curve (the type's), Q (not empty).
	 */
	for (j = 0; j < (i == 0 ? 1 : 2); j++)
		if (ssh_get(&s, 0, &v, 0) == -1 || (i == 0 && v.n != 32) ||
		    (i == 1 && (v.n == 0 || (v.p[0] & 0x80) || (v.p[0] == 0 &&
		    (v.n == 1 || !(v.p[1] & 0x80))))) || (i > 1 && (j == 0 ?
		    !der_eq(v.p, v.n, sshtypes[i] + 11, 8) : v.n == 0)))
			return malformed(c, "public key", -1);
	if (ssh_get(&s, 8, &v, 0) == -1)
		return malformed(c, "serial", -1);
	sb_add(c->gi->serial, sizeof(c->gi->serial), v.p, 8, NULL);
	if (ssh_get(&s, 4, &type, 0) == -1 || ssh_get(&s, 0, &v, 0) == -1)
		return malformed(c, "type or key id", -1);
	sb_add(c->gi->subject, sizeof(c->gi->subject), v.p, v.n, "");
	/* principals, then valid after and valid before: 2 uint64 */
	if (ssh_get(&s, 0, &v, 1) == -1 || ssh_get(&s, 16, &v, 0) == -1)
		return malformed(c, "principals or validity", -1);
	if (ssh_get(&s, 0, &v, 2) == -1 || ssh_get(&s, 0, &v, 2) == -1)
		return malformed(c, "critical options or extensions", -1);
	if (ssh_get(&s, 0, &v, 0) == -1 || ssh_get(&s, 0, &sigkey, 0) == -1)
		return malformed(c, "reserved or signature key", -1);
	if (!der_done(&s))
		return malformed(c, "trailing data", -1);

	if (BE32(type.p) != 1 && BE32(type.p) != 2)
		return refuse(c->gi, "SSH certificate type %u is neither user "
		    "nor host", (unsigned int)BE32(type.p));
	if (!der_eq(sigkey.p, sigkey.n, c->k->sshpub, c->k->sshpublen))
		return refuse(c->gi, "signature key is not this CA's key");
	return 0;
}

/* All that each role may sign; whatever is not here is refused. */
static int (*const rules[][KIND_MAX + 1])(struct ctx *, const uint8_t *,
    size_t) = {
	[ROLE_ROOT] = { [KIND_X509_TBS] = check_cert,	/* in ceremony mode */
	    [KIND_CRL_TBS] = check_crl },
	[ROLE_ISSUING] = { [KIND_X509_TBS] = check_cert,
	    [KIND_CRL_TBS] = check_crl, [KIND_OCSP_TBS] = check_ocsp },
	[ROLE_SSH] = { [KIND_SSH_CERT] = check_ssh },
	/* Its own certificate, if any, is the front end's to carry. */
	[ROLE_OCSP] = { [KIND_OCSP_TBS] = check_ocsp },
};

int
guard_check(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, struct guard_info *info)
{
	struct guard_info	 scratch;
	struct ctx		 c = { .k = k, .alg = alg, .gi = info };

	if (info == NULL)
		c.gi = info = &scratch;
	info->serial[0] = info->subject[0] = info->reason[0] = '\0';
	if (k == NULL)
		return refuse(info, "no key");
	if ((unsigned int)k->role >= nitems(rules) || kind > KIND_MAX ||
	    rules[k->role][kind] == NULL)
		return refuse(info, "payload kind %u is not allowed for this "
		    "key", kind);
	if (k->role == ROLE_ROOT && !k->ceremony)
		return refuse(info, "root key signs only in ceremony mode");
	return rules[k->role][kind](&c, p, n);
}
