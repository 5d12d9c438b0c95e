#ifndef K8SLB_COPENSSL_SHIM_H
#define K8SLB_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/bn.h>

/* The linked OpenSSL's version text ("OpenSSL 3.0.x ..."). */
static inline const char *copenssl_version(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}
/* OPENSSL_free is a macro. */
static inline void copenssl_free(void *p) {
    OPENSSL_free(p);
}
#endif
