/* For programs linked with libtool's -dlpreopen (tests, static builds): hands the list
 * of preloaded plugin modules to the core. Call before coffer_core_new(). Link with
 * `-dlpreopen force` at least, so the list exists even when empty. */
#ifndef COFFER_SYS_PRELOAD_H
#define COFFER_SYS_PRELOAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Same layout as libltdl's lt_dlsymlist; libtool names the program's list like this. */
struct coffer_lt_symlist {
	const char *name;
	void *address;
};
extern const struct coffer_lt_symlist lt__PROGRAM__LTX_preloaded_symbols[];
void coffer_core_set_preloaded(const void *symlist);
#define COFFER_SET_PRELOADED_PLUGINS() \
	coffer_core_set_preloaded(lt__PROGRAM__LTX_preloaded_symbols)

#ifdef __cplusplus
}
#endif
#endif
