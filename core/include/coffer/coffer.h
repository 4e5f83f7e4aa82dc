/* Everything a user of libcoffer needs. */
#ifndef COFFER_COFFER_H
#define COFFER_COFFER_H
#include <coffer/common.h>
#include <coffer/error.h>
#include <coffer/config.h>
#include <coffer/core.h>
#include <coffer/url.h>
#include <coffer/backend.h>
#include <coffer/codec.h>
#include <coffer/hook.h>
#include <coffer/repo.h>
#include <coffer/snapshot.h>
#endif
