/* The loader: the only code that talks to libltdl. */
#ifndef COFFER_DL_H
#define COFFER_DL_H

typedef struct coffer_dl_module coffer_dl_module;

/* Called for each module found: `where` is its file or "(preloaded) name", `symbol` the
 * address of its descriptor symbol (NULL when it has none). Takes ownership of `mod`. */
typedef void (*coffer_dl_found_cb)(coffer_dl_module *mod, const char *where, const void *symbol,
                                   void *ud);

int coffer_dl_init(void);
void coffer_dl_exit(void);
void coffer_dl_set_preloaded(const void *symlist);
void coffer_dl_foreach_preloaded(coffer_dl_found_cb cb, void *ud);
/* Opens one module file; on failure returns nonzero with the error set (naming the file). */
int coffer_dl_open(const char *path, coffer_dl_module **out, const void **symbol);
void coffer_dl_close(coffer_dl_module *mod);

#endif
