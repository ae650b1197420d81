/*
 * p11_admin.c — what the operator does to a token and the signer never
 * does: create a token, generate keys in it, list what is there. Kept out
 * of the signer's own sources (it links only what it serves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "hsm/p11.h"

static const struct {
	const char	*name;
	CK_MECHANISM_TYPE mech;
	const char	*params;	/* CKA_EC_PARAMS (DER) for EC keys */
	size_t		 paramslen;
	CK_ULONG	 bits;		/* RSA modulus bits */
} keyalgs[] = {
	[P11_EC_P256] = { "p256", CKM_EC_KEY_PAIR_GEN,
	    "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10, 0 },
	[P11_EC_P384] = { "p384", CKM_EC_KEY_PAIR_GEN,
	    "\x06\x05\x2b\x81\x04\x00\x22", 7, 0 },
	[P11_RSA2048] = { "rsa2048", CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 2048 },
	[P11_RSA3072] = { "rsa3072", CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 3072 },
	[P11_RSA4096] = { "rsa4096", CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, 4096 },
	[P11_ED25519] = { "ed25519", CKM_EC_EDWARDS_KEY_PAIR_GEN,
	    "\x06\x03\x2b\x65\x70", 5, 0 },
};
#define NKEYALGS (int)(sizeof(keyalgs) / sizeof(keyalgs[0]))

int
p11_keyalg_from_name(const char *name)
{
	int	 i;

	for (i = 1; i < NKEYALGS; i++)
		if (strcmp(keyalgs[i].name, name) == 0)
			return i;
	return -1;
}

const char *
p11_keyalg_name(int alg)
{
	return alg > 0 && alg < NKEYALGS ? keyalgs[alg].name : "?";
}

static int
exists(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_ATTRIBUTE *a)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG	 n = 0;

	if (f->C_FindObjectsInit(s, a, 1) != CKR_OK)
		return -1;
	if (f->C_FindObjects(s, &h, 1, &n) != CKR_OK)
		n = 1;		/* can't tell: treat as taken */
	f->C_FindObjectsFinal(s);
	return n > 0;
}

int
p11_generate(struct p11 *p, int alg, const char *label, const uint8_t *id,
    size_t idlen, char *err, size_t errsz)
{
	CK_FUNCTION_LIST *f = p11_funcs(p);
	CK_SESSION_HANDLE s = p11_session(p);
	CK_BBOOL	 yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE		 e[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM	 m;
	CK_ATTRIBUTE	 pub[8], priv[10], q;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_ULONG	 np = 0, nv = 0, bits;
	CK_RV		 rv;

	if (alg <= 0 || alg >= NKEYALGS) {
		snprintf(err, errsz, "unknown key algorithm");
		return -1;
	}
	q = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (exists(f, s, &q) != 0) {
		snprintf(err, errsz, "token already holds an object labelled "
		    "'%s': refusing to create another", label);
		return -1;
	}
	q = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if (exists(f, s, &q) != 0) {
		snprintf(err, errsz, "token already holds an object with the "
		    "id of '%s': refusing to create another", label);
		return -1;
	}
	m = (CK_MECHANISM){ keyalgs[alg].mech, NULL, 0 };
	bits = keyalgs[alg].bits;
	pub[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pub[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pub[np++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	pub[np++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if (bits) {
		pub[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
		    sizeof(bits) };
		pub[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, e, sizeof(e) };
	} else
		pub[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
		    (void *)keyalgs[alg].params, keyalgs[alg].paramslen };
	/* The whole point of the appliance: the private half never leaves. */
	priv[nv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &no, sizeof(no) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	priv[nv++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	rv = f->C_GenerateKeyPair(s, &m, pub, np, priv, nv, &hpub, &hpriv);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "key '%s' (%s): C_GenerateKeyPair: %s",
		    label, keyalgs[alg].name, p11_rv_name(rv));
		return -1;
	}
	return 0;
}

static void
pad32(CK_UTF8CHAR *dst, const char *src)
{
	size_t	 n = strlen(src);

	memset(dst, ' ', 32);
	memcpy(dst, src, n > 32 ? 32 : n);
}

static int
label_is(const CK_TOKEN_INFO *ti, const CK_UTF8CHAR *want)
{
	return memcmp(ti->label, want, 32) == 0;
}

int
p11_init_token(const char *module, const char *label, const char *so_pin,
    const char *user_pin, char *err, size_t errsz)
{
	struct p11	*p;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID	 slots[64], slot = 0;
	CK_ULONG	 n = 64, i;
	CK_TOKEN_INFO	 ti;
	CK_UTF8CHAR	 lab[32];
	CK_SESSION_HANDLE s;
	const char	*fn;
	int		 found = 0;
	CK_RV		 rv;

	if ((p = p11_load(module, err, errsz)) == NULL)
		return -1;
	f = p11_funcs(p);
	pad32(lab, label);
	fn = "C_GetSlotList";
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		goto ckr;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && label_is(&ti, lab)) {
			snprintf(err, errsz, "pkcs11 module %s: a token "
			    "labelled '%s' already exists", module, label);
			goto bad;
		}
		if (!found && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		snprintf(err, errsz, "pkcs11 module %s: no free slot for a "
		    "new token", module);
		goto bad;
	}
	fn = "C_InitToken";
	if ((rv = f->C_InitToken(slot, (CK_UTF8CHAR *)so_pin, strlen(so_pin),
	    lab)) != CKR_OK)
		goto ckr;
	/* SoftHSM renumbers slots after C_InitToken: find it by label. */
	n = 64;
	fn = "C_GetSlotList";
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		goto ckr;
	for (i = 0, found = 0; i < n && !found; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) && label_is(&ti, lab))
			slot = slots[i], found = 1;
	fn = "C_OpenSession";
	if (!found) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto ckr;
	}
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK)
		goto ckr;
	fn = "C_Login(SO)";
	if ((rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin,
	    strlen(so_pin))) == CKR_OK) {
		fn = "C_InitPIN";
		rv = f->C_InitPIN(s, (CK_UTF8CHAR *)user_pin, strlen(user_pin));
		f->C_Logout(s);
	}
	f->C_CloseSession(s);
	if (rv != CKR_OK)
		goto ckr;
	p11_close(p);
	return 0;
ckr:
	snprintf(err, errsz, "pkcs11 module %s token '%s': %s: %s", module,
	    label, fn, p11_rv_name(rv));
bad:
	p11_close(p);
	return -1;
}

/* RFC 7512 percent-encoding of a path attribute value. */
static void
uri_put(FILE *out, const char *attr, const unsigned char *v, size_t n,
    int always_hex)
{
	size_t	 i;

	fprintf(out, "%s=", attr);
	for (i = 0; i < n; i++) {
		if (!always_hex && ((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		    strchr("-._~", v[i]) != NULL))
			fputc(v[i], out);
		else
			fprintf(out, "%%%02x", v[i]);
	}
}

static size_t
trimmed(const unsigned char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	return n;
}

static void
token_uri(FILE *out, const CK_TOKEN_INFO *ti)
{
	fputs("pkcs11:", out);
	uri_put(out, "model", ti->model, trimmed(ti->model, 16), 0);
	fputc(';', out);
	uri_put(out, "manufacturer", ti->manufacturerID,
	    trimmed(ti->manufacturerID, 32), 0);
	fputc(';', out);
	uri_put(out, "serial", ti->serialNumber, trimmed(ti->serialNumber, 16),
	    0);
	fputc(';', out);
	uri_put(out, "token", ti->label, trimmed(ti->label, 32), 0);
}

static const char *
class_name(CK_OBJECT_CLASS c)
{
	switch (c) {
	case CKO_PRIVATE_KEY:
		return "private";
	case CKO_PUBLIC_KEY:
		return "public";
	case CKO_CERTIFICATE:
		return "cert";
	case CKO_SECRET_KEY:
		return "secret-key";
	case CKO_DATA:
		return "data";
	default:
		return "other";
	}
}

static const char *
keytype_name(CK_KEY_TYPE t)
{
	return t == CKK_RSA ? "RSA" : t == CKK_EC ? "EC" :
	    t == CKK_EC_EDWARDS ? "EdDSA" : "-";
}

static void
list_objects(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const CK_TOKEN_INFO *ti,
    FILE *out)
{
	CK_OBJECT_HANDLE h[64];
	CK_ULONG	 n = 0, i;
	CK_OBJECT_CLASS	 cls;
	CK_KEY_TYPE	 kt;
	unsigned char	 label[128], id[64];
	CK_ATTRIBUTE	 a[4];

	if (f->C_FindObjectsInit(s, NULL, 0) != CKR_OK)
		return;
	while (f->C_FindObjects(s, h, 64, &n) == CKR_OK && n > 0) {
		for (i = 0; i < n; i++) {
			kt = (CK_KEY_TYPE)-1;
			a[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
			a[1] = (CK_ATTRIBUTE){ CKA_LABEL, label, sizeof(label) };
			a[2] = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
			a[3] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
			/* Some attributes may not exist on every object. */
			if (f->C_GetAttributeValue(s, h[i], a, 4) != CKR_OK &&
			    a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION)
				continue;
			if (a[1].ulValueLen == CK_UNAVAILABLE_INFORMATION)
				a[1].ulValueLen = 0;
			if (a[2].ulValueLen == CK_UNAVAILABLE_INFORMATION)
				a[2].ulValueLen = 0;
			fprintf(out, "    %-8s %-5s ", class_name(cls),
			    a[3].ulValueLen == CK_UNAVAILABLE_INFORMATION ?
			    "-" : keytype_name(kt));
			fputs("pkcs11:", out);
			uri_put(out, "token", ti->label, trimmed(ti->label, 32),
			    0);
			fputc(';', out);
			uri_put(out, "object", label, a[1].ulValueLen, 0);
			fputc(';', out);
			uri_put(out, "id", id, a[2].ulValueLen, 1);
			fprintf(out, ";type=%s\n", class_name(cls));
		}
	}
	f->C_FindObjectsFinal(s);
}

int
p11_list(const char *module, const char *pin, FILE *out, char *err,
    size_t errsz)
{
	struct p11	*p;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID	 slots[64];
	CK_ULONG	 n = 64, i;
	CK_SLOT_INFO	 si;
	CK_TOKEN_INFO	 ti;
	CK_SESSION_HANDLE s;
	CK_RV		 rv;

	if ((p = p11_load(module, err, errsz)) == NULL)
		return -1;
	f = p11_funcs(p);
	if ((rv = f->C_GetSlotList(CK_FALSE, slots, &n)) != CKR_OK) {
		snprintf(err, errsz, "pkcs11 module %s: C_GetSlotList: %s",
		    module, p11_rv_name(rv));
		p11_close(p);
		return -1;
	}
	fprintf(out, "module %s: %lu slot(s)\n", module, n);
	for (i = 0; i < n; i++) {
		if (f->C_GetSlotInfo(slots[i], &si) != CKR_OK)
			continue;
		fprintf(out, "slot %lu: %.*s\n", slots[i],
		    (int)trimmed(si.slotDescription, 64), si.slotDescription);
		if (!(si.flags & CKF_TOKEN_PRESENT) ||
		    f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) {
			fprintf(out, "  (no token)\n");
			continue;
		}
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			fprintf(out, "  token: (not initialized)\n");
			continue;
		}
		fprintf(out, "  token: %.*s  serial %.*s\n  ",
		    (int)trimmed(ti.label, 32), ti.label,
		    (int)trimmed(ti.serialNumber, 16), ti.serialNumber);
		token_uri(out, &ti);
		fputc('\n', out);
		if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL,
		    &s) != CKR_OK)
			continue;
		if (pin && f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin,
		    strlen(pin)) != CKR_OK)
			fprintf(out, "  (login failed: public objects only)\n");
		list_objects(f, s, &ti, out);
		f->C_CloseSession(s);
	}
	p11_close(p);
	return 0;
}
