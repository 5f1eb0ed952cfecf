/* tlm_qemu_plugin.h: the part of QEMU's TCG plugin API (version 1, QEMU 6.0 to 8.1) that
 * bench/qemu_plugin/tlm_count.c uses, declared from QEMU's documentation
 * (docs/devel/tcg-plugins.rst, "API"). Debian's QEMU 7.2 exports these functions from the
 * qemu-system binary but ships no header and no plugins, so the plugin declares them itself.
 * A plugin is a shared object exporting `qemu_plugin_version` and `qemu_plugin_install`;
 * the other symbols resolve against the QEMU binary when it loads the plugin.
 */
#ifndef TLM_QEMU_PLUGIN_H
#define TLM_QEMU_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLM_QEMU_PLUGIN_API 1
#define TLM_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;

/* What QEMU tells qemu_plugin_install() about itself; valid during that call only. */
typedef struct {
    const char *target_name;            /* "arm" */
    struct {
        int min;                        /* oldest API version this QEMU still serves */
        int cur;                        /* its own API version */
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;      /* a translation block, valid during the translation callback */
struct qemu_plugin_insn;    /* one of its instructions */

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef uint32_t qemu_plugin_meminfo_t;    /* size, sign, endianness, store: opaque here */

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);

/* Called at translation time for every new block. */
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);   /* its bytes, as fetched */
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
/* Run time: `*ptr += imm` (generated code, no call) or a call, each time the insn executes. */
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
/* Run time: a call each time the block starts (before its first instruction). */
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
/* Run time: a call for each memory access the instruction makes, with its virtual address. */
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);     /* to QEMU's log (stderr unless -D) */

#endif /* TLM_QEMU_PLUGIN_H */
