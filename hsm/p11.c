/*
 * p11.c — one PKCS#11 module, one token, one session; key handle cache;
 * reopen-and-retry-once when the token went away under us.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "hsm/p11.h"
#include "hsm/proto.h"

struct p11 {
	void			*dl;
	CK_FUNCTION_LIST	*f;
	char			 module[256];
	char			 label[33];
	char			 serial[17];
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 sess;
	int			 open;		/* session open and logged in */
	char			*pin;
	struct p11_key		 keys[P11_MAX_KEYS];
	int			 nkeys;
};

static const struct {
	CK_RV		 rv;
	const char	*name;
} rv_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
	{ CKR_DATA_INVALID, "CKR_DATA_INVALID" },
};

const char *
p11_rv_name(unsigned long rv)
{
	static char	 buf[32];
	size_t		 i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%08lx", rv);
	return buf;
}

/* The codes after which a reopen can plausibly help (the token came back). */
static int
recoverable(CK_RV rv)
{
	/* A key handle gone bad: our session copy (key_find) was dropped. */
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_REMOVED ||
	    rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

static void
fail(struct p11 *p, char *err, size_t errsz, const char *obj,
    const char *fn, CK_RV rv)
{
	snprintf(err, errsz, "pkcs11 module %s token '%s'%s%s%s: %s: %s",
	    p->module, p->label[0] ? p->label : p->serial, obj ? " key '" : "",
	    obj ? obj : "", obj ? "'" : "", fn, p11_rv_name(rv));
}

struct p11 *
p11_load(const char *module, char *err, size_t errsz)
{
	CK_C_INITIALIZE_ARGS	 args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList	 gfl;
	struct p11		*p;
	CK_RV			 rv;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	snprintf(p->module, sizeof(p->module), "%s", module);
	if ((p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errsz, "pkcs11 module %s: %s", module, dlerror());
		free(p);
		return NULL;
	}
	*(void **)&gfl = dlsym(p->dl, "C_GetFunctionList");
	if (gfl == NULL || (rv = gfl(&p->f)) != CKR_OK) {
		snprintf(err, errsz, "pkcs11 module %s: no C_GetFunctionList",
		    module);
		dlclose(p->dl);
		free(p);
		return NULL;
	}
	rv = p->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		fail(p, err, errsz, NULL, "C_Initialize", rv);
		dlclose(p->dl);
		free(p);
		return NULL;
	}
	return p;
}

static void
padded(char *dst, size_t dstsz, const unsigned char *src, size_t n)
{
	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static CK_RV
find_slot(struct p11 *p)
{
	CK_SLOT_ID	 slots[64];
	CK_ULONG	 n = 64, i;
	CK_TOKEN_INFO	 ti;
	char		 label[33], serial[17];
	CK_RV		 rv;

	if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		padded(label, sizeof(label), ti.label, sizeof(ti.label));
		padded(serial, sizeof(serial), ti.serialNumber,
		    sizeof(ti.serialNumber));
		if (p->label[0] && strcmp(label, p->label) != 0)
			continue;
		if (p->serial[0] && strcmp(serial, p->serial) != 0)
			continue;
		p->slot = slots[i];
		return CKR_OK;
	}
	return CKR_TOKEN_NOT_PRESENT;
}

static CK_RV
session_open(struct p11 *p, const char **fn)
{
	CK_RV	 rv;

	*fn = "C_GetSlotList";
	if ((rv = find_slot(p)) != CKR_OK)
		return rv;
	*fn = "C_OpenSession";
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &p->sess);
	if (rv != CKR_OK)
		return rv;
	if (p->pin) {
		*fn = "C_Login";
		rv = p->f->C_Login(p->sess, CKU_USER, (CK_UTF8CHAR *)p->pin,
		    strlen(p->pin));
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			p->f->C_CloseSession(p->sess);
			return rv;
		}
	}
	p->open = 1;
	return CKR_OK;
}

struct p11 *
p11_open(const struct p11_token_sel *sel, const char *pin, char *err,
    size_t errsz)
{
	struct p11	*p;
	const char	*fn;
	CK_RV		 rv;

	if (sel->label == NULL && sel->serial == NULL) {
		snprintf(err, errsz, "pkcs11: no token label or serial given");
		return NULL;
	}
	if ((p = p11_load(sel->module, err, errsz)) == NULL)
		return NULL;
	snprintf(p->label, sizeof(p->label), "%s", sel->label ? sel->label : "");
	snprintf(p->serial, sizeof(p->serial), "%s",
	    sel->serial ? sel->serial : "");
	if (pin && (p->pin = strdup(pin)) == NULL) {
		snprintf(err, errsz, "out of memory");
		p11_close(p);
		return NULL;
	}
	if ((rv = session_open(p, &fn)) != CKR_OK) {
		fail(p, err, errsz, NULL, fn, rv);
		p11_close(p);
		return NULL;
	}
	return p;
}

void
p11_close(struct p11 *p)
{
	int	 i;

	if (p == NULL)
		return;
	if (p->open)
		p->f->C_CloseSession(p->sess);
	p->f->C_Finalize(NULL);
	dlclose(p->dl);
	if (p->pin) {
		OPENSSL_cleanse(p->pin, strlen(p->pin));
		free(p->pin);
	}
	for (i = 0; i < p->nkeys; i++)
		free(p->keys[i].spki);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

void *
p11_funcs(struct p11 *p)
{
	return p->f;
}

unsigned long
p11_session(struct p11 *p)
{
	return p->sess;
}

/* Finds exactly one object of class cls matching label and/or id. */
static CK_RV
find_one(struct p11 *p, CK_OBJECT_CLASS cls, const char *label,
    const uint8_t *id, size_t idlen, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE	 t[4];
	CK_OBJECT_HANDLE found[2];
	CK_BBOOL	 on_token = CK_TRUE;
	CK_ULONG	 n = 0, nt = 0;
	CK_RV		 rv;

	t[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	/* Never our own session copies (key_find). */
	t[nt++] = (CK_ATTRIBUTE){ CKA_TOKEN, &on_token, sizeof(on_token) };
	if (label)
		t[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
		    strlen(label) };
	if (idlen)
		t[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if ((rv = p->f->C_FindObjectsInit(p->sess, t, nt)) != CKR_OK)
		return rv;
	rv = p->f->C_FindObjects(p->sess, found, 2, &n);
	p->f->C_FindObjectsFinal(p->sess);
	if (rv != CKR_OK)
		return rv;
	if (n != 1)
		return n == 0 ? CKR_KEY_HANDLE_INVALID : CKR_TEMPLATE_INCONSISTENT;
	*h = found[0];
	return CKR_OK;
}

static const struct {
	const char	*group;
	const uint8_t	*oid;
	size_t		 len;
	int		 keytype;
	int		 bits;
} curves[] = {
	{ "P-256", (const uint8_t *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07",
	    10, KEYTYPE_EC_P256, 256 },
	{ "P-384", (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x22", 7,
	    KEYTYPE_EC_P384, 384 },
	{ "P-521", (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x23", 7,
	    KEYTYPE_EC_P521, 521 },
	{ "ED25519", (const uint8_t *)"\x06\x03\x2b\x65\x70", 5,
	    KEYTYPE_ED25519, 255 },
	{ "ED25519", (const uint8_t *)"\x13\x0c" "edwards25519", 14,
	    KEYTYPE_ED25519, 255 },
};

/* CKA_EC_POINT is a DER OCTET STRING; some modules give the bare point. */
static void
unwrap_point(const uint8_t **pt, size_t *n)
{
	if (*n >= 2 && (*pt)[0] == 0x04 && (*pt)[1] < 0x80 &&
	    (size_t)(*pt)[1] + 2 == *n) {
		*pt += 2, *n -= 2;
	} else if (*n >= 3 && (*pt)[0] == 0x04 && (*pt)[1] == 0x81 &&
	    (size_t)(*pt)[2] + 3 == *n) {
		*pt += 3, *n -= 3;
	}
}

static EVP_PKEY *
pkey_from_attrs(CK_KEY_TYPE kt, const uint8_t *a, size_t an, const uint8_t *b,
    size_t bn, struct p11_key *k)
{
	OSSL_PARAM_BLD	*bld = NULL;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pk = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	size_t		 i;

	if (kt == CKK_RSA) {
		n = BN_bin2bn(a, (int)an, NULL);
		e = BN_bin2bn(b, (int)bn, NULL);
		k->keytype = KEYTYPE_RSA;
		k->bits = n ? BN_num_bits(n) : 0;
		if ((bld = OSSL_PARAM_BLD_new()) == NULL || n == NULL ||
		    e == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
		    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
		    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL)
			goto out;
	} else {
		for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
			if (curves[i].len == an &&
			    memcmp(curves[i].oid, a, an) == 0)
				break;
		if (i == sizeof(curves) / sizeof(curves[0]))
			goto out;
		k->keytype = curves[i].keytype;
		k->bits = curves[i].bits;
		unwrap_point(&b, &bn);
		if (k->keytype == KEYTYPE_ED25519) {
			pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
			    b, bn);
			goto out;
		}
		if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
		    !OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, b, bn) ||
		    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
		    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL)
			goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

static CK_RV
get_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t *len)
{
	CK_ATTRIBUTE	 a = { type, buf, *len };
	CK_RV		 rv;

	if ((rv = f->C_GetAttributeValue(s, h, &a, 1)) != CKR_OK)
		return rv;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* Reads a public key object's attributes and exports them as SPKI DER. */
int
p11_spki(void *funcs, unsigned long sess, unsigned long pub, struct p11_key *k,
    char *err, size_t errsz)
{
	CK_FUNCTION_LIST *f = funcs;
	uint8_t		 a[1024], b[1024];
	size_t		 an = sizeof(a), bn = sizeof(b);
	CK_KEY_TYPE	 kt;
	size_t		 ktn = sizeof(kt);
	EVP_PKEY	*pk;
	unsigned char	*der = NULL;
	int		 len;
	CK_RV		 rv;

	if ((rv = get_attr(f, sess, pub, CKA_KEY_TYPE, (uint8_t *)&kt, &ktn)))
		goto ckr;
	if (kt == CKK_RSA) {
		if ((rv = get_attr(f, sess, pub, CKA_MODULUS, a, &an)) ||
		    (rv = get_attr(f, sess, pub, CKA_PUBLIC_EXPONENT, b, &bn)))
			goto ckr;
	} else if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
		if ((rv = get_attr(f, sess, pub, CKA_EC_PARAMS, a, &an)) ||
		    (rv = get_attr(f, sess, pub, CKA_EC_POINT, b, &bn)))
			goto ckr;
	} else {
		snprintf(err, errsz, "key '%s': unsupported key type 0x%lx",
		    k->label, kt);
		return -1;
	}
	if ((pk = pkey_from_attrs(kt, a, an, b, bn, k)) == NULL) {
		snprintf(err, errsz, "key '%s': public key attributes invalid",
		    k->label);
		return -1;
	}
	len = i2d_PUBKEY(pk, &der);
	EVP_PKEY_free(pk);
	if (len <= 0) {
		snprintf(err, errsz, "key '%s': cannot encode public key",
		    k->label);
		return -1;
	}
	free(k->spki);
	if ((k->spki = malloc(len)) == NULL) {
		OPENSSL_free(der);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	memcpy(k->spki, der, len);
	k->spkilen = len;
	OPENSSL_free(der);
	return 0;
ckr:
	snprintf(err, errsz, "key '%s': C_GetAttributeValue: %s", k->label,
	    p11_rv_name(rv));
	return -1;
}

/*
 * SoftHSM's file store opens, locks and re-reads the key's object file
 * and the token's generation file on every C_SignInit (14 syscalls): a
 * session object copy of the key (C_CopyObject with CKA_TOKEN false)
 * lives in the module's memory and signs without them. The copy never
 * leaves the token, keeps the original's sensitive and non-extractable
 * attributes, and ends with the session. A module that refuses to copy
 * (CKA_COPYABLE false, or no C_CopyObject) signs with the token object.
 */
static CK_RV
session_copy(struct p11 *p, struct p11_key *k)
{
	CK_BBOOL	 off = CK_FALSE;
	CK_ATTRIBUTE	 t = { CKA_TOKEN, &off, sizeof(off) };
	CK_OBJECT_HANDLE copy;

	if (p->f->C_CopyObject(p->sess, k->handle, &t, 1, &copy) == CKR_OK)
		k->handle = copy;
	return CKR_OK;
}

/* (Re)finds a cached key's private handle; the public half on first use. */
static CK_RV
key_find(struct p11 *p, struct p11_key *k, int with_public, char *err,
    size_t errsz)
{
	CK_OBJECT_HANDLE pub;
	uint8_t		 id[P11_MAX_ID];
	size_t		 idlen = sizeof(id);
	CK_RV		 rv;

	rv = find_one(p, CKO_PRIVATE_KEY, k->label[0] ? k->label : NULL, k->id,
	    k->idlen, &k->handle);
	if (rv != CKR_OK)
		return rv;
	if (!with_public)
		return session_copy(p, k);
	/* Pin the id so the public key and later lookups are unambiguous. */
	if (k->idlen == 0) {
		if ((rv = get_attr(p->f, p->sess, k->handle, CKA_ID, id,
		    &idlen)) != CKR_OK)
			return rv;
		memcpy(k->id, id, idlen);
		k->idlen = idlen;
	}
	if ((rv = find_one(p, CKO_PUBLIC_KEY, NULL, k->id, k->idlen, &pub)))
		return rv;
	if (p11_spki(p->f, p->sess, pub, k, err, errsz) == -1)
		return CKR_FUNCTION_FAILED;
	return session_copy(p, k);
}

int
p11_key_add(struct p11 *p, const char *label, const uint8_t *id, size_t idlen,
    char *err, size_t errsz)
{
	struct p11_key	*k;
	CK_RV		 rv;

	if (p->nkeys == P11_MAX_KEYS || idlen > P11_MAX_ID ||
	    (label == NULL && idlen == 0)) {
		snprintf(err, errsz, "pkcs11: bad key selector");
		return -1;
	}
	k = &p->keys[p->nkeys];
	memset(k, 0, sizeof(*k));
	snprintf(k->label, sizeof(k->label), "%s", label ? label : "");
	memcpy(k->id, id, idlen);
	k->idlen = idlen;
	err[0] = '\0';
	if ((rv = key_find(p, k, 1, err, errsz)) != CKR_OK) {
		if (err[0] == '\0')
			fail(p, err, errsz, label ? label : "(by id)",
			    rv == CKR_KEY_HANDLE_INVALID ? "no such key" :
			    rv == CKR_TEMPLATE_INCONSISTENT ?
			    "more than one key matches" : "C_FindObjects", rv);
		free(k->spki);
		k->spki = NULL;
		return -1;
	}
	return p->nkeys++;
}

const struct p11_key *
p11_key_get(const struct p11 *p, int idx)
{
	return idx >= 0 && idx < p->nkeys ? &p->keys[idx] : NULL;
}

/* The token went away: start the module afresh and find everything again. */
static CK_RV
reopen(struct p11 *p, const char **fn)
{
	CK_C_INITIALIZE_ARGS	 args = { .flags = CKF_OS_LOCKING_OK };
	char			 err[8];
	CK_RV			 rv;
	int			 i;

	if (p->open)
		p->f->C_CloseSession(p->sess);
	p->open = 0;
	/* Handles of the old instance may name other objects in the new. */
	for (i = 0; i < p->nkeys; i++)
		p->keys[i].handle = CK_INVALID_HANDLE;
	p->f->C_Finalize(NULL);
	*fn = "C_Initialize";
	if ((rv = p->f->C_Initialize(&args)) != CKR_OK)
		return rv;
	if ((rv = session_open(p, fn)) != CKR_OK)
		return rv;
	*fn = "C_FindObjects";
	for (i = 0; i < p->nkeys; i++)
		if ((rv = key_find(p, &p->keys[i], 0, err, sizeof(err)))) {
			/* Half found is not open: the next sign starts over. */
			p->f->C_CloseSession(p->sess);
			p->open = 0;
			return rv;
		}
	return CKR_OK;
}

static CK_RV
sign_once(struct p11 *p, struct p11_key *k, CK_MECHANISM *m, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t *outlen, const char **fn)
{
	CK_ULONG	 n = *outlen;
	CK_RV		 rv;

	*fn = "C_SignInit";
	if (k->handle == CK_INVALID_HANDLE)
		return CKR_KEY_HANDLE_INVALID;
	if ((rv = p->f->C_SignInit(p->sess, m, k->handle)) != CKR_OK)
		return rv;
	*fn = "C_Sign";
	rv = p->f->C_Sign(p->sess, (CK_BYTE *)in, inlen, out, &n);
	*outlen = n;
	return rv;
}

int
p11_sign(struct p11 *p, int idx, unsigned long mech, unsigned long pss_hash,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen, char *err,
    size_t errsz)
{
	CK_RSA_PKCS_PSS_PARAMS	 pss;
	CK_MECHANISM		 m = { mech, NULL, 0 };
	struct p11_key		*k;
	const char		*fn = "C_Sign";
	size_t			 cap = *outlen;
	CK_RV			 rv = CKR_SESSION_CLOSED;

	if (idx < 0 || idx >= p->nkeys) {
		snprintf(err, errsz, "pkcs11: no key %d", idx);
		return -1;
	}
	k = &p->keys[idx];
	if (mech == CKM_RSA_PKCS_PSS) {
		pss.hashAlg = pss_hash;
		pss.mgf = pss_hash == CKM_SHA384 ? CKG_MGF1_SHA384 :
		    pss_hash == CKM_SHA512 ? CKG_MGF1_SHA512 : CKG_MGF1_SHA256;
		pss.sLen = inlen;
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
	}
	if (p->open)
		rv = sign_once(p, k, &m, in, inlen, out, outlen, &fn);
	if (recoverable(rv)) {
		*outlen = cap;
		if ((rv = reopen(p, &fn)) == CKR_OK)
			rv = sign_once(p, k, &m, in, inlen, out, outlen, &fn);
	}
	if (rv != CKR_OK) {
		fail(p, err, errsz, k->label[0] ? k->label : "(by id)", fn, rv);
		return -1;
	}
	return 0;
}
