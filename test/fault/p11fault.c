/*
 * p11fault: a PKCS#11 module that forwards every call to a real module
 * and, on the way, injects the failures and delays a control file asks
 * for.  SoftHSM never loses its device or its sessions, so this is the
 * only way the tests can show the signer recovering from that without a
 * restart.  See README.md next to this file for the control file format.
 *
 * Everything here is per process.  The one thing shared between the
 * processes that load the shim is the control file itself, so fault
 * counts are kept there, under flock(2).
 */

#include <sys/file.h>
#include <sys/types.h>

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

/* A plan is a handful of lines; anything this big is a mistake. */
#define PLAN_MAX	(64 * 1024)

/* Beyond ten minutes a latency line is a typo, not a test. */
#define LATENCY_MAX	(10L * 60 * 1000)

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Every entry of CK_FUNCTION_LIST except C_GetFunctionList: name,
 * parameter list, argument list, and what to do to the real module when
 * a fault is injected (see drain_*() below).  The session parameter is
 * always called s so that the drain expressions can name it.
 */
#define NODRAIN		((void)0)
#define P11_FUNCS(X)							\
X(C_Initialize, (CK_VOID_PTR init), (init), NODRAIN)			\
X(C_Finalize, (CK_VOID_PTR rsvd), (rsvd), NODRAIN)			\
X(C_GetInfo, (CK_INFO_PTR info), (info), NODRAIN)			\
X(C_GetSlotList, (CK_BBOOL present, CK_SLOT_ID_PTR slots,		\
    CK_ULONG_PTR n), (present, slots, n), NODRAIN)			\
X(C_GetSlotInfo, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info),		\
    (slot, info), NODRAIN)						\
X(C_GetTokenInfo, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info),		\
    (slot, info), NODRAIN)						\
X(C_GetMechanismList, (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR mechs,	\
    CK_ULONG_PTR n), (slot, mechs, n), NODRAIN)				\
X(C_GetMechanismInfo, (CK_SLOT_ID slot, CK_MECHANISM_TYPE type,	\
    CK_MECHANISM_INFO_PTR info), (slot, type, info), NODRAIN)		\
X(C_InitToken, (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pinlen,	\
    CK_UTF8CHAR_PTR label), (slot, pin, pinlen, label), NODRAIN)	\
X(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin,		\
    CK_ULONG pinlen), (s, pin, pinlen), NODRAIN)			\
X(C_SetPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR opin,		\
    CK_ULONG opinlen, CK_UTF8CHAR_PTR npin, CK_ULONG npinlen),		\
    (s, opin, opinlen, npin, npinlen), NODRAIN)				\
X(C_OpenSession, (CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,	\
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR sp),			\
    (slot, flags, app, notify, sp), NODRAIN)				\
X(C_CloseSession, (CK_SESSION_HANDLE s), (s), NODRAIN)			\
X(C_CloseAllSessions, (CK_SLOT_ID slot), (slot), NODRAIN)		\
X(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info),	\
    (s, info), NODRAIN)							\
X(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR st,		\
    CK_ULONG_PTR stlen), (s, st, stlen), NODRAIN)			\
X(C_SetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR st,		\
    CK_ULONG stlen, CK_OBJECT_HANDLE ekey, CK_OBJECT_HANDLE akey),	\
    (s, st, stlen, ekey, akey), NODRAIN)				\
X(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE user,			\
    CK_UTF8CHAR_PTR pin, CK_ULONG pinlen), (s, user, pin, pinlen),	\
    NODRAIN)								\
X(C_Logout, (CK_SESSION_HANDLE s), (s), NODRAIN)			\
X(C_CreateObject, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl,		\
    CK_ULONG n, CK_OBJECT_HANDLE_PTR obj), (s, tmpl, n, obj), NODRAIN)	\
X(C_CopyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,		\
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR nobj),	\
    (s, obj, tmpl, n, nobj), NODRAIN)					\
X(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj),	\
    (s, obj), NODRAIN)							\
X(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,		\
    CK_ULONG_PTR size), (s, obj, size), NODRAIN)			\
X(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,	\
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n), (s, obj, tmpl, n), NODRAIN)	\
X(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,	\
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n), (s, obj, tmpl, n), NODRAIN)	\
X(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl,	\
    CK_ULONG n), (s, tmpl, n), NODRAIN)					\
X(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR objs,	\
    CK_ULONG max, CK_ULONG_PTR n), (s, objs, max, n), NODRAIN)		\
X(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s), NODRAIN)		\
X(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen),	\
    drain_oneshot(real->C_Encrypt, s))					\
X(C_EncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), drain_oneshot(real->C_Encrypt, s))	\
X(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,		\
    CK_ULONG_PTR outlen), (s, out, outlen),				\
    drain_oneshot(real->C_Encrypt, s))					\
X(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen),	\
    drain_oneshot(real->C_Decrypt, s))					\
X(C_DecryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), drain_oneshot(real->C_Decrypt, s))	\
X(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,		\
    CK_ULONG_PTR outlen), (s, out, outlen),				\
    drain_oneshot(real->C_Decrypt, s))					\
X(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech),		\
    (s, mech), NODRAIN)							\
X(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen),	\
    drain_oneshot(real->C_Digest, s))					\
X(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen), (s, in, inlen), drain_oneshot(real->C_Digest, s))	\
X(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key), (s, key),	\
    drain_oneshot(real->C_Digest, s))					\
X(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,		\
    CK_ULONG_PTR outlen), (s, out, outlen),				\
    drain_oneshot(real->C_Digest, s))					\
X(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_Sign, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen), (s, in, inlen, sig, siglen),	\
    drain_oneshot(real->C_Sign, s))					\
X(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen),	\
    (s, in, inlen), drain_oneshot(real->C_Sign, s))			\
X(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig,			\
    CK_ULONG_PTR siglen), (s, sig, siglen),				\
    drain_oneshot(real->C_Sign, s))					\
X(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,	\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_SignRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen), (s, in, inlen, sig, siglen),	\
    drain_oneshot(real->C_SignRecover, s))				\
X(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,	\
    CK_BYTE_PTR sig, CK_ULONG siglen), (s, in, inlen, sig, siglen),	\
    drain_verify(s))							\
X(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen), (s, in, inlen), drain_verify(s))			\
X(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig,		\
    CK_ULONG siglen), (s, sig, siglen), drain_verify(s))		\
X(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,	\
    CK_OBJECT_HANDLE key), (s, mech, key), NODRAIN)			\
X(C_VerifyRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig,		\
    CK_ULONG siglen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, sig, siglen, out, outlen), NODRAIN)				\
X(C_DigestEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), NODRAIN)				\
X(C_DecryptDigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), NODRAIN)				\
X(C_SignEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), NODRAIN)				\
X(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,		\
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),		\
    (s, in, inlen, out, outlen), NODRAIN)				\
X(C_GenerateKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key),	\
    (s, mech, tmpl, n, key), NODRAIN)					\
X(C_GenerateKeyPair, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,	\
    CK_ATTRIBUTE_PTR pubt, CK_ULONG pubn, CK_ATTRIBUTE_PTR privt,	\
    CK_ULONG privn, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),\
    (s, mech, pubt, pubn, privt, privn, pub, priv), NODRAIN)		\
X(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE wkey, CK_OBJECT_HANDLE key, CK_BYTE_PTR out,	\
    CK_ULONG_PTR outlen), (s, mech, wkey, key, out, outlen), NODRAIN)	\
X(C_UnwrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE ukey, CK_BYTE_PTR in, CK_ULONG inlen,		\
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key),	\
    (s, mech, ukey, in, inlen, tmpl, n, key), NODRAIN)			\
X(C_DeriveKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,		\
    CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,		\
    CK_OBJECT_HANDLE_PTR key), (s, mech, base, tmpl, n, key), NODRAIN)	\
X(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR seed,		\
    CK_ULONG seedlen), (s, seed, seedlen), NODRAIN)			\
X(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,		\
    CK_ULONG outlen), (s, out, outlen), NODRAIN)			\
X(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s), NODRAIN)		\
X(C_CancelFunction, (CK_SESSION_HANDLE s), (s), NODRAIN)		\
X(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID_PTR slot,		\
    CK_VOID_PTR rsvd), (flags, slot, rsvd), NODRAIN)

#define X(name, params, args, drain)	FN_##name,
enum fn {
	P11_FUNCS(X)
	FN_COUNT
};
#undef X

#define X(name, params, args, drain)	#name,
static const char *const fn_names[FN_COUNT] = {
	P11_FUNCS(X)
};
#undef X

#define R(code)		{ #code, code }
static const struct {
	const char	*name;
	CK_RV		 rv;
} rv_names[] = {
	R(CKR_OK), R(CKR_CANCEL), R(CKR_HOST_MEMORY), R(CKR_SLOT_ID_INVALID),
	R(CKR_GENERAL_ERROR), R(CKR_FUNCTION_FAILED), R(CKR_ARGUMENTS_BAD),
	R(CKR_NO_EVENT), R(CKR_NEED_TO_CREATE_THREADS), R(CKR_CANT_LOCK),
	R(CKR_ATTRIBUTE_READ_ONLY), R(CKR_ATTRIBUTE_SENSITIVE),
	R(CKR_ATTRIBUTE_TYPE_INVALID), R(CKR_ATTRIBUTE_VALUE_INVALID),
	R(CKR_ACTION_PROHIBITED), R(CKR_DATA_INVALID), R(CKR_DATA_LEN_RANGE),
	R(CKR_DEVICE_ERROR), R(CKR_DEVICE_MEMORY), R(CKR_DEVICE_REMOVED),
	R(CKR_ENCRYPTED_DATA_INVALID), R(CKR_ENCRYPTED_DATA_LEN_RANGE),
	R(CKR_FUNCTION_CANCELED), R(CKR_FUNCTION_NOT_PARALLEL),
	R(CKR_FUNCTION_NOT_SUPPORTED), R(CKR_KEY_HANDLE_INVALID),
	R(CKR_KEY_SIZE_RANGE), R(CKR_KEY_TYPE_INCONSISTENT),
	R(CKR_KEY_NOT_NEEDED), R(CKR_KEY_CHANGED), R(CKR_KEY_NEEDED),
	R(CKR_KEY_INDIGESTIBLE), R(CKR_KEY_FUNCTION_NOT_PERMITTED),
	R(CKR_KEY_NOT_WRAPPABLE), R(CKR_KEY_UNEXTRACTABLE),
	R(CKR_MECHANISM_INVALID), R(CKR_MECHANISM_PARAM_INVALID),
	R(CKR_OBJECT_HANDLE_INVALID), R(CKR_OPERATION_ACTIVE),
	R(CKR_OPERATION_NOT_INITIALIZED), R(CKR_PIN_INCORRECT),
	R(CKR_PIN_INVALID), R(CKR_PIN_LEN_RANGE), R(CKR_PIN_EXPIRED),
	R(CKR_PIN_LOCKED), R(CKR_SESSION_CLOSED), R(CKR_SESSION_COUNT),
	R(CKR_SESSION_HANDLE_INVALID), R(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	R(CKR_SESSION_READ_ONLY), R(CKR_SESSION_EXISTS),
	R(CKR_SESSION_READ_ONLY_EXISTS), R(CKR_SESSION_READ_WRITE_SO_EXISTS),
	R(CKR_SIGNATURE_INVALID), R(CKR_SIGNATURE_LEN_RANGE),
	R(CKR_TEMPLATE_INCOMPLETE), R(CKR_TEMPLATE_INCONSISTENT),
	R(CKR_TOKEN_NOT_PRESENT), R(CKR_TOKEN_NOT_RECOGNIZED),
	R(CKR_TOKEN_WRITE_PROTECTED), R(CKR_UNWRAPPING_KEY_SIZE_RANGE),
	R(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT), R(CKR_USER_ALREADY_LOGGED_IN),
	R(CKR_USER_NOT_LOGGED_IN), R(CKR_USER_PIN_NOT_INITIALIZED),
	R(CKR_USER_TYPE_INVALID), R(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	R(CKR_USER_TOO_MANY_TYPES), R(CKR_WRAPPED_KEY_INVALID),
	R(CKR_WRAPPED_KEY_LEN_RANGE), R(CKR_WRAPPING_KEY_HANDLE_INVALID),
	R(CKR_WRAPPING_KEY_SIZE_RANGE), R(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
	R(CKR_RANDOM_SEED_NOT_SUPPORTED), R(CKR_RANDOM_NO_RNG),
	R(CKR_DOMAIN_PARAMS_INVALID), R(CKR_CURVE_NOT_SUPPORTED),
	R(CKR_BUFFER_TOO_SMALL), R(CKR_SAVED_STATE_INVALID),
	R(CKR_INFORMATION_SENSITIVE), R(CKR_STATE_UNSAVEABLE),
	R(CKR_CRYPTOKI_NOT_INITIALIZED), R(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	R(CKR_MUTEX_BAD), R(CKR_MUTEX_NOT_LOCKED), R(CKR_NEW_PIN_MODE),
	R(CKR_NEXT_OTP), R(CKR_EXCEEDED_MAX_ITERATIONS),
	R(CKR_FIPS_SELF_TEST_FAILED), R(CKR_LIBRARY_LOAD_FAILED),
	R(CKR_PIN_TOO_WEAK), R(CKR_PUBLIC_KEY_INVALID),
	R(CKR_FUNCTION_REJECTED), R(CKR_VENDOR_DEFINED),
};
#undef R

/* What the plan says about one call. */
struct verdict {
	int		 fail;
	CK_RV		 rv;
	long		 latency_ms;
	/* The count of the fail line that fired, to be rewritten. */
	int		 consume;
	size_t		 cnt_off;
	size_t		 cnt_len;
	long		 cnt_new;
};

struct tok {
	const char	*p;
	size_t		 n;
};

static pthread_once_t	 load_once = PTHREAD_ONCE_INIT;
static CK_RV		 load_rv = CKR_GENERAL_ERROR;
static CK_FUNCTION_LIST	*real;
static CK_FUNCTION_LIST	 wrapped;
static const char	*plan_path;
/*
 * Not strdup'd: callers such as pkcs11-tool dlclose the module at exit,
 * which would orphan a heap copy.
 */
static char		 plan_path_buf[PATH_MAX];

/*
 * Serialises this process's threads on the plan file and guards the
 * state below.  flock alone would do for the file, but not for that.
 */
static pthread_mutex_t	 plan_lock = PTHREAD_MUTEX_INITIALIZER;
static char		 plan_buf[PLAN_MAX + 1];
static uint64_t		 warned[64];
static size_t		 nwarned;
static int		 warned_errno;
static int		 warned_big;

/*
 * Input for drains.  The real module only reads it, so one shared
 * buffer serves every thread.
 */
static CK_BYTE		 drain_in[1];

static void
sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/*
 * PKCS#11 has a failed C_Sign, C_SignUpdate, C_SignFinal (and the same
 * for encrypt, decrypt, digest, verify) end the active operation, so a
 * caller may go straight to the next *Init on the same session.  An
 * injected failure never reached the real module, which still holds the
 * operation open and would answer that *Init with CKR_OPERATION_ACTIVE:
 * a fault of the shim's own making.  So end it there too, by running it
 * to completion into a scratch buffer.  Every error path of a single-part
 * call also ends the operation, which covers the case where multi-part
 * updates have already been fed in.
 */
static void
drain_oneshot(CK_RV (*fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG_PTR), CK_SESSION_HANDLE s)
{
	CK_BYTE		*out;
	CK_ULONG	 n = 0;

	if (fn == NULL || fn(s, drain_in, 0, NULL, &n) != CKR_OK)
		return;
	if ((out = malloc(n > 0 ? n : 1)) == NULL)
		return;
	(void)fn(s, drain_in, 0, out, &n);
	free(out);
}

/* C_Verify has no output to size; a wrong signature ends it as well. */
static void
drain_verify(CK_SESSION_HANDLE s)
{
	if (real->C_Verify != NULL)
		(void)real->C_Verify(s, drain_in, 0, drain_in, 0);
}

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	while (n-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The plan is read on every call, so without this a bad line would be
 * reported thousands of times.  Once per distinct line text is enough.
 */
static void
warn_line(int lineno, const char *line, size_t len, const char *why)
{
	uint64_t	 h;
	size_t		 i;

	h = fnv1a(line, len);
	for (i = 0; i < nwarned; i++)
		if (warned[i] == h)
			return;
	if (nwarned < nitems(warned))
		warned[nwarned++] = h;
	fprintf(stderr, "p11fault: %s:%d: %s, line ignored: %.*s\n",
	    plan_path, lineno, why, len > INT_MAX ? INT_MAX : (int)len, line);
}

static int
tok_is(const struct tok *t, const char *s)
{
	return strlen(s) == t->n && memcmp(t->p, s, t->n) == 0;
}

static int
tokenize(const char *p, const char *end, struct tok *t, int max)
{
	const char	*start;
	int		 n = 0;

	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			return n;
		start = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		if (n < max) {
			t[n].p = start;
			t[n].n = p - start;
		}
		n++;
	}
}

/* Returns the function index, FN_COUNT for "*", or -1. */
static int
parse_fn(const struct tok *t)
{
	int	 i;

	if (tok_is(t, "*"))
		return FN_COUNT;
	for (i = 0; i < FN_COUNT; i++)
		if (tok_is(t, fn_names[i]))
			return i;
	return -1;
}

static int
parse_rv(const struct tok *t, CK_RV *rv)
{
	char		 tmp[64], *ep;
	unsigned long	 ul;
	size_t		 i;

	if (t->n >= sizeof(tmp))
		return -1;
	memcpy(tmp, t->p, t->n);
	tmp[t->n] = '\0';
	if (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) {
		if (tmp[2] == '\0')
			return -1;
		for (i = 2; tmp[i] != '\0'; i++)
			if (!isxdigit((unsigned char)tmp[i]))
				return -1;
		errno = 0;
		ul = strtoul(tmp + 2, &ep, 16);
		if (errno == ERANGE || *ep != '\0')
			return -1;
		*rv = ul;
		return 0;
	}
	for (i = 0; i < nitems(rv_names); i++) {
		if (strcmp(tmp, rv_names[i].name) == 0) {
			*rv = rv_names[i].rv;
			return 0;
		}
	}
	return -1;
}

/* Plain decimal only: strtol alone would take "+3", " 3" and "3x". */
static int
parse_long(const struct tok *t, long min, long max, long *out)
{
	char		 tmp[32], *ep;
	const char	*q;
	long		 l;

	if (t->n == 0 || t->n >= sizeof(tmp))
		return -1;
	memcpy(tmp, t->p, t->n);
	tmp[t->n] = '\0';
	q = tmp[0] == '-' ? tmp + 1 : tmp;
	if (*q == '\0')
		return -1;
	for (; *q != '\0'; q++)
		if (!isdigit((unsigned char)*q))
			return -1;
	errno = 0;
	l = strtol(tmp, &ep, 10);
	if (errno == ERANGE || *ep != '\0' || l < min || l > max)
		return -1;
	*out = l;
	return 0;
}

/*
 * Apply one line to the verdict for function fn.  Every line is checked,
 * not just those naming fn, so that a typo is reported on the first call
 * after it is written rather than when its function is finally called.
 */
static void
plan_line(const char *buf, const char *line, const char *end, int lineno,
    enum fn fn, struct verdict *v)
{
	struct tok	 t[5];
	const char	*hash;
	CK_RV		 rv;
	long		 num;
	int		 n, f;

	if ((hash = memchr(line, '#', end - line)) != NULL)
		end = hash;
	if ((n = tokenize(line, end, t, nitems(t))) == 0)
		return;

	if (tok_is(&t[0], "fail")) {
		if (n != 4) {
			warn_line(lineno, line, end - line,
			    "want: fail <function|*> <CKR_*|0xhex> <count>");
			return;
		}
		if ((f = parse_fn(&t[1])) == -1) {
			warn_line(lineno, line, end - line, "unknown function");
			return;
		}
		if (parse_rv(&t[2], &rv) == -1) {
			warn_line(lineno, line, end - line, "unknown CKR code");
			return;
		}
		if (parse_long(&t[3], -1, LONG_MAX, &num) == -1) {
			warn_line(lineno, line, end - line,
			    "count must be -1 or >= 0");
			return;
		}
		/* The first live line naming this call wins. */
		if (v->fail || num == 0 || (f != FN_COUNT && f != (int)fn))
			return;
		v->fail = 1;
		v->rv = rv;
		if (num > 0) {
			v->consume = 1;
			v->cnt_off = t[3].p - buf;
			v->cnt_len = t[3].n;
			v->cnt_new = num - 1;
		}
	} else if (tok_is(&t[0], "latency")) {
		if (n != 3) {
			warn_line(lineno, line, end - line,
			    "want: latency <function|*> <milliseconds>");
			return;
		}
		if ((f = parse_fn(&t[1])) == -1) {
			warn_line(lineno, line, end - line, "unknown function");
			return;
		}
		if (parse_long(&t[2], 0, LATENCY_MAX, &num) == -1) {
			warn_line(lineno, line, end - line,
			    "milliseconds out of range");
			return;
		}
		if (f == FN_COUNT || f == (int)fn) {
			v->latency_ms += num;
			if (v->latency_ms > LATENCY_MAX)
				v->latency_ms = LATENCY_MAX;
		}
	} else
		warn_line(lineno, line, end - line, "unknown keyword");
}

static int
read_all(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t	 r;
	size_t	 off = 0;

	while (off < size) {
		r = read(fd, buf + off, size - off);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		off += r;
	}
	*len = off;
	return 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 w;
	size_t	 off = 0;

	while (off < len) {
		w = pwrite(fd, buf + off, len - off, off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
	}
	return 0;
}

/*
 * Rewrite the file in place, never by rename: the other processes lock
 * this inode, and a renamed-in replacement would be a different one.
 * Only the count token changes; comments and layout stay as written.
 */
static void
plan_consume(int fd, char *buf, size_t len, const struct verdict *v)
{
	char	 num[24];
	int	 n;

	n = snprintf(num, sizeof(num), "%ld", v->cnt_new);
	/* A decremented count never needs more digits. */
	if (n < 0 || (size_t)n > v->cnt_len) {
		fprintf(stderr, "p11fault: %s: cannot rewrite count\n",
		    plan_path);
		return;
	}
	memmove(buf + v->cnt_off + n, buf + v->cnt_off + v->cnt_len,
	    len - v->cnt_off - v->cnt_len);
	memcpy(buf + v->cnt_off, num, n);
	len -= v->cnt_len - n;
	if (write_all(fd, buf, len) == -1 || ftruncate(fd, len) == -1)
		fprintf(stderr, "p11fault: %s: rewrite: %s\n", plan_path,
		    strerror(errno));
}

/* Called with plan_lock held. */
static void
plan_read(enum fn fn, struct verdict *v)
{
	const char	*line, *nl, *end;
	size_t		 len;
	int		 fd, lineno;

	/* No file means no faults: tests clear the plan by removing it. */
	if ((fd = open(plan_path, O_RDWR | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno != ENOENT && errno != warned_errno) {
			warned_errno = errno;
			fprintf(stderr, "p11fault: %s: %s\n", plan_path,
			    strerror(errno));
		}
		return;
	}
	warned_errno = 0;

	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			fprintf(stderr, "p11fault: %s: flock: %s\n",
			    plan_path, strerror(errno));
			goto out;
		}
	}
	if (read_all(fd, plan_buf, sizeof(plan_buf), &len) == -1) {
		fprintf(stderr, "p11fault: %s: read: %s\n", plan_path,
		    strerror(errno));
		goto out;
	}
	if (len > PLAN_MAX) {
		if (!warned_big)
			fprintf(stderr, "p11fault: %s: larger than %d bytes, "
			    "ignored\n", plan_path, PLAN_MAX);
		warned_big = 1;
		goto out;
	}
	warned_big = 0;

	end = plan_buf + len;
	for (line = plan_buf, lineno = 1; line < end; line = nl + 1, lineno++) {
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			nl = end;
		plan_line(plan_buf, line, nl, lineno, fn, v);
	}
	if (v->consume)
		plan_consume(fd, plan_buf, len, v);
 out:
	/* Closing drops the flock. */
	if (close(fd) == -1)
		fprintf(stderr, "p11fault: %s: close: %s\n", plan_path,
		    strerror(errno));
}

/* Returns 1 with *rv set if the call is to fail instead of going through. */
static int
plan_consult(enum fn fn, CK_RV *rv)
{
	struct verdict	 v;
	int		 e;

	if (plan_path == NULL)
		return 0;
	memset(&v, 0, sizeof(v));
	if ((e = pthread_mutex_lock(&plan_lock)) != 0) {
		fprintf(stderr, "p11fault: mutex: %s\n", strerror(e));
		return 0;
	}
	plan_read(fn, &v);
	if ((e = pthread_mutex_unlock(&plan_lock)) != 0)
		fprintf(stderr, "p11fault: mutex: %s\n", strerror(e));

	/* Outside the lock: a slow call must not stall the others. */
	if (v.latency_ms > 0)
		sleep_ms(v.latency_ms);
	if (!v.fail)
		return 0;
	*rv = v.rv;
	return 1;
}

/*
 * A failed call leaves the operation open only for CKR_BUFFER_TOO_SMALL
 * (and success), so those are the faults not to drain after.
 */
#define X(name, params, args, drain)					\
static CK_RV								\
fw_##name params							\
{									\
	CK_RV	 rv;							\
									\
	if (plan_consult(FN_##name, &rv)) {				\
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)		\
			drain;						\
		return rv;						\
	}								\
	return real->name args;						\
}
P11_FUNCS(X)
#undef X

/*
 * A fork while another thread holds plan_lock would leave the child
 * with a lock nobody will release; workers are forked while the parent's
 * threads may be mid-call.
 */
static void
atfork_prepare(void)
{
	(void)pthread_mutex_lock(&plan_lock);
}

static void
atfork_release(void)
{
	(void)pthread_mutex_unlock(&plan_lock);
}

static void
load(void)
{
	CK_RV		 (*getlist)(CK_FUNCTION_LIST_PTR_PTR);
	const char	*path, *plan;
	void		*h;
	CK_RV		 rv;
	int		 e;

	/* Read once: getenv races with setenv in a threaded caller. */
	plan = getenv("P11FAULT_FILE");
	if (plan != NULL && *plan != '\0') {
		/* Refuse rather than run a test without its faults. */
		if (strlen(plan) >= sizeof(plan_path_buf)) {
			fprintf(stderr, "p11fault: P11FAULT_FILE too long\n");
			return;
		}
		memcpy(plan_path_buf, plan, strlen(plan) + 1);
		plan_path = plan_path_buf;
	}
	path = getenv("P11FAULT_MODULE");
	if (path == NULL || *path == '\0')
		path = DEFAULT_MODULE;

	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11fault: %s\n", dlerror());
		return;
	}
	getlist = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h,
	    "C_GetFunctionList");
	if (getlist == NULL) {
		fprintf(stderr, "p11fault: %s: no C_GetFunctionList\n", path);
		goto fail;
	}
	/* Pointed at ourselves we would wait on our own pthread_once. */
	if (getlist == C_GetFunctionList) {
		fprintf(stderr, "p11fault: %s: is the shim itself\n", path);
		goto fail;
	}
	if ((rv = getlist(&real)) != CKR_OK || real == NULL) {
		fprintf(stderr, "p11fault: %s: C_GetFunctionList: 0x%lx\n",
		    path, rv);
		real = NULL;
		load_rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
		goto fail;
	}
	if ((e = pthread_atfork(atfork_prepare, atfork_release,
	    atfork_release)) != 0) {
		fprintf(stderr, "p11fault: pthread_atfork: %s\n", strerror(e));
		real = NULL;
		goto fail;
	}

	/* Keep the real module's gaps: a caller may test for NULL. */
	wrapped.version = real->version;
	wrapped.C_GetFunctionList = C_GetFunctionList;
#define X(name, params, args, drain)					\
	wrapped.name = real->name != NULL ? fw_##name : NULL;
	P11_FUNCS(X)
#undef X
	load_rv = CKR_OK;
	/* h stays open: the module must outlive every copy of the list. */
	return;
 fail:
	if (dlclose(h) != 0)
		fprintf(stderr, "p11fault: dlclose: %s\n", dlerror());
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pthread_once(&load_once, load) != 0)
		return CKR_GENERAL_ERROR;
	if (load_rv != CKR_OK)
		return load_rv;
	*list = &wrapped;
	return CKR_OK;
}
