/*
 * invq.c - the invalidation queue (VT-d QI / SMMUv3 command queue).
 * Descriptors are encoded with the architecture's type codes and main
 * fields (VT-d: Linux drivers/iommu/intel/iommu.h QI_*; SMMUv3: Linux
 * arm-smmu-v3.h CMDQ_OP_*), consumed in order, each after its configured
 * cost. A device-TLB invalidation sends an ATS Invalidate Request (PCIe
 * r6.0 10.3.1) and lets the queue go on. Waits:
 *  - VT-d inv_wait as Linux qi_submit_sync writes it (status write, no
 *    fence: FN = 0) completes only after the descriptors between the
 *    previous wait and it are done, device-TLB completions included, but
 *    descriptors after it may run before it completes (VT-d 6.5.2.12,
 *    Queued Invalidation Ordering Considerations): a wait whose segment
 *    still has ATS invalidations in flight leaves the ring (parked) and
 *    completes when they do; only a wait with FN = 1 holds the queue;
 *  - SMMUv3 CMD_SYNC completes when every prior command is complete, and
 *    "commands in the Command queue that are more recent than a CMD_SYNC
 *    do not begin processing until the CMD_SYNC completes" (SMMUv3 4.7.3):
 *    it holds the queue.
 * Page group
 * responses (VT-d 0x9 page_grp_resp, SMMUv3 CMD_PRI_RESP, AMD-Vi
 * COMPLETE_PPR_REQUEST) go to the device as PRG Responses; SMMUv3
 * CMD_RESUME goes to the stall model.
 * AMD-Vi: 16-byte commands of the command buffer (#48882, the command
 * buffer and its commands; field positions as Linux drivers/iommu/amd/
 * iommu.c builds them: build_completion_wait, build_inv_dte,
 * build_inv_iommu_pages, build_inv_iotlb_pages, build_complete_ppr,
 * build_inv_all; CMD_* of amd_iommu_types.h). The buffer keeps one entry
 * unused (head == tail is empty) and is processed in order as VT-d's
 * queue is: COMPLETION_WAIT completes once the commands before it are
 * complete, IOTLB invalidations (INVALIDATE_IOTLB_PAGES) included, and
 * Linux writes it with the store bit only (no f: flush queue), so the
 * commands after it may go on: AMD matches VT-d's FN = 0 wait closely
 * enough for this model, which reuses it. AMD has no PASID cache of its
 * own: the device table entry and the GCR3 table it points to are the
 * configuration caches, both invalidated by INVALIDATE_DEVTAB_ENTRY of
 * the device (a superset of a PASID-cache invalidation); invalidations
 * without a device become INVALIDATE_IOMMU_ALL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/invq.h"

const char *const iommu_qi_type_names[IOMMU_QI_TYPES] = {
    "iotlb",     "pasid_cache", "context_cache", "devtlb",
    "page_resp", "resume",      "wait"};

/* VT-d descriptor types (Linux QI_*_TYPE). */
enum {
    VTD_CC = 0x1,
    VTD_IOTLB = 0x2,
    VTD_DEVTLB = 0x3,
    VTD_WAIT = 0x5,
    VTD_PIOTLB = 0x6,
    VTD_PC = 0x7,
    VTD_PDEVTLB = 0x8,
    VTD_PGRP_RESP = 0x9
};
/* SMMUv3 command opcodes (Linux CMDQ_OP_*). */
enum {
    SMMU_CFGI_STE = 0x03,
    SMMU_CFGI_ALL = 0x04,
    SMMU_CFGI_CD = 0x05,
    SMMU_CFGI_CD_ALL = 0x06,
    SMMU_TLBI_NH_ASID = 0x11,
    SMMU_TLBI_NH_VA = 0x12,
    SMMU_TLBI_S12_VMALL = 0x28,
    SMMU_TLBI_S2_IPA = 0x2a,
    SMMU_TLBI_NSNH_ALL = 0x30,
    SMMU_ATC_INV = 0x40,
    SMMU_PRI_RESP = 0x41,
    SMMU_RESUME = 0x44,
    SMMU_SYNC = 0x46
};
/* AMD-Vi command types (Linux amd_iommu_types.h CMD_*), in bits 63:60 of
 * the first quadword (CMD_SET_TYPE: data[1] bits 31:28). */
enum {
    AMD_COMPL_WAIT = 0x01,
    AMD_INV_DEV_ENTRY = 0x02,
    AMD_INV_IOMMU_PAGES = 0x03,
    AMD_INV_IOTLB_PAGES = 0x04,
    AMD_COMPLETE_PPR = 0x07,
    AMD_INV_ALL = 0x08
};
/* INVALIDATE_IOMMU_PAGES / _IOTLB_PAGES flags in the third dword (Linux
 * CMD_INV_IOMMU_PAGES_SIZE_MASK, _PDE_MASK, _GN_MASK). */
#define AMD_S 0x1ull
#define AMD_PDE 0x2ull
#define AMD_GN 0x4ull

int iommu_invq_init(iommu_invq_t *q, sim_t *sim, iommu_mem_t *mem,
                    const iommu_cfg_t *cfg, const iommu_port_t *down,
                    iommu_stall_t *stall, iommu_arch_t arch, uint64_t depth)
{
    bool smmu = arch == IOMMU_ARCH_SMMUV3;
    q->amd = arch == IOMMU_ARCH_AMDVI;
    q->sim = sim;
    q->mem = mem;
    q->cfg = cfg;
    q->down = down;
    q->stall = stall;
    q->smmu = smmu;
    sim_pool_init(&q->bl_pool, sizeof(iommu_invq_backlog_t), 64);
    sim_pool_init(&q->park_pool, sizeof(iommu_invq_parked_t), 64);
    if (iring_init(&q->ring, mem, depth, smmu || q->amd ? 16 : 32, smmu))
        return -ENOMEM;
    q->side = calloc(q->ring.depth, sizeof(*q->side));
    return q->side ? 0 : -ENOMEM;
}

void iommu_invq_fini(iommu_invq_t *q)
{
    free(q->side);
    sim_pool_fini(&q->bl_pool);
    sim_pool_fini(&q->park_pool);
}

/* Smallest aligned power-of-two block of pages covering [addr, addr+len):
 * its base in *base, log2 of its pages returned (VT-d AM, SMMUv3 SCALE). */
static unsigned range_order(uint64_t addr, uint64_t len, uint64_t *base)
{
    uint64_t last = addr + (len ? len : 1) - 1;
    if (last < addr)
        last = UINT64_MAX;
    unsigned am = 0;
    while (am < 52 && (addr >> (IOMMU_PAGE_SHIFT + am)) !=
                          (last >> (IOMMU_PAGE_SHIFT + am)))
        am++;
    /* am = 52: the block is the whole 64-bit space (a shift by 64 would
     * be undefined). */
    unsigned bits = IOMMU_PAGE_SHIFT + am;
    *base = bits >= 64 ? 0 : addr & ~((1ull << bits) - 1);
    return am;
}

/* PCIe ATS invalidation address with the S bit (PCIe 10.3.1; "all" per
 * PCIe 10.2.3.2, riscv-iommu iommu_ref_model iommu_ats.h): 2^k pages (k >= 1)
 * are written as ones in bits 12 .. 12+k-2 and a zero at bit 12+k-1; "all" is
 * S=1 with bits 62:12 set. Returns the address; *s the S bit. */
static uint64_t ats_encode(uint64_t addr, uint64_t len, bool *s)
{
    uint64_t base;
    unsigned k = len ? range_order(addr, len, &base) : 52;
    if (k >= 51) {
        *s = true;
        return 0x7ffffffffffff000ull;
    }
    *s = k > 0;
    return k ? base | (((1ull << (k - 1)) - 1) << IOMMU_PAGE_SHIFT) : base;
}

/* The range of an ATS invalidation address with the S bit (see ats_encode). */
static void ats_decode(uint64_t a, bool s, uint64_t *addr, uint64_t *len)
{
    a &= ~(IOMMU_PAGE_SIZE - 1);
    if (!s) {
        *addr = a;
        *len = IOMMU_PAGE_SIZE;
        return;
    }
    if ((a & 0x7ffffffffffff000ull) == 0x7ffffffffffff000ull) {
        *addr = 0;
        *len = 0;
        return;
    }
    unsigned k = 1;
    while ((a >> (IOMMU_PAGE_SHIFT + k - 1)) & 1)
        k++;
    *len = 1ull << (IOMMU_PAGE_SHIFT + k);
    *addr = a & ~(*len - 1);
}

/* VT-d page group response code of a PCIe PRG response code. */
static uint8_t vtd_resp_code(uint8_t code)
{
    return code == PCIE_PRG_SUCCESS   ? 0x0
           : code == PCIE_PRG_INVALID ? 0x1
                                      : code;
}

/* SMMUv3 PRI_RESP: 0 Deny (Invalid Request), 1 Fail, 2 Success
 * (Linux arm-smmu-v3.h: enum pri_resp). */
static uint8_t smmu_resp_code(uint8_t code)
{
    return code == PCIE_PRG_SUCCESS ? 2 : code == PCIE_PRG_INVALID ? 0 : 1;
}

/* PCIe PRG response code of an SMMUv3 PRI_RESP value. */
static uint8_t smmu_resp_decode(unsigned v)
{
    return v == 2   ? PCIE_PRG_SUCCESS
           : v == 0 ? PCIE_PRG_INVALID
                    : PCIE_PRG_FAILURE;
}

/* Encode d into the two or four words w. Returns 0 or -EINVAL. */
static int qi_encode_vtd(const iommu_qi_desc_t *d, uint32_t slot, uint64_t *w)
{
    const iommu_inv_t *v = &d->inv;
    uint64_t base;
    unsigned am;
    switch (d->type) {
    case IOMMU_QI_IOTLB:
        switch (v->gran) {
        case IOMMU_INV_GLOBAL:
            w[0] = VTD_IOTLB | (1u << 4);
            return 0;
        case IOMMU_INV_DOMAIN:
            w[0] = VTD_IOTLB | (2u << 4) | ((uint64_t)v->domain << 16);
            return 0;
        case IOMMU_INV_S2_RANGE:
            am = range_order(v->addr, v->len, &base);
            w[0] = VTD_IOTLB | (3u << 4) | ((uint64_t)v->domain << 16);
            w[1] = base | (v->leaf_only ? 1u << 6 : 0) | am;
            return 0;
        case IOMMU_INV_PASID:
            w[0] = VTD_PIOTLB | (2u << 4) | ((uint64_t)v->domain << 16) |
                   ((uint64_t)v->pasid << 32);
            return 0;
        case IOMMU_INV_RANGE:
            if (v->any_pasid) { /* no such granularity: the domain */
                w[0] = VTD_IOTLB | (2u << 4) | ((uint64_t)v->domain << 16);
                return 0;
            }
            am = range_order(v->addr, v->len, &base);
            w[0] = VTD_PIOTLB | (3u << 4) | ((uint64_t)v->domain << 16) |
                   ((uint64_t)v->pasid << 32);
            w[1] = base | (v->leaf_only ? 1u << 6 : 0) | am;
            return 0;
        default:
            return -EINVAL;
        }
    case IOMMU_QI_PASID_CACHE:
        /* Granularity 0 domain-selective, 1 PASID-selective-within-domain
         * (Linux QI_PC_PASID_SEL), 3 global; VT-d has no device
         * granularity: those become global (a superset). */
        w[0] =
            VTD_PC | ((uint64_t)v->domain << 16) | ((uint64_t)v->pasid << 32);
        w[0] |= (uint64_t)(v->gran == IOMMU_INV_DOMAIN  ? 0
                           : v->gran == IOMMU_INV_PASID ? 1
                                                        : 3)
                << 4;
        return 0;
    case IOMMU_QI_CONTEXT_CACHE:
        w[0] = VTD_CC | ((uint64_t)v->rid << 32) |
               ((uint64_t)(v->gran == IOMMU_INV_DEVICE ? 3 : 1) << 4);
        return 0;
    case IOMMU_QI_DEVTLB: {
        bool s;
        w[0] =
            VTD_PDEVTLB | ((uint64_t)v->rid << 16) | ((uint64_t)v->pasid << 32);
        w[1] = ats_encode(v->addr, v->len, &s) | (s ? 1u << 11 : 0);
        return 0;
    }
    case IOMMU_QI_PAGE_RESP:
        w[0] = VTD_PGRP_RESP | (d->pasid_present ? 1u << 4 : 0) |
               ((uint64_t)(vtd_resp_code(d->code) & 0xf) << 12) |
               ((uint64_t)d->rid << 16) | ((uint64_t)d->pasid << 32);
        w[1] = 4u /* LPIG */ | ((uint64_t)(d->prgi & 0x1ff) << 3);
        return 0;
    case IOMMU_QI_WAIT:
        /* Status write, no fence (Linux dmar.c qi_submit_sync:
         * QI_IWD_STATUS_DATA | QI_IWD_STATUS_WRITE | QI_IWD_TYPE). */
        w[0] = VTD_WAIT | (1u << 5) /* SW */ |
               (d->fence ? 1u << 6 : 0) /* FN */ |
               (d->drain ? 1u << 7 : 0) /* PD */ | ((uint64_t)slot << 32);
        return 0;
    default:
        return -EINVAL; /* RESUME: no stall model on VT-d */
    }
}

/* Encode d as an SMMUv3 command into w. Returns 0 or -EINVAL. */
static int qi_encode_smmu(const iommu_qi_desc_t *d, uint32_t slot, uint64_t *w)
{
    const iommu_inv_t *v = &d->inv;
    uint64_t base;
    unsigned am;
    switch (d->type) {
    case IOMMU_QI_IOTLB:
        switch (v->gran) {
        case IOMMU_INV_GLOBAL:
            w[0] = SMMU_TLBI_NSNH_ALL;
            return 0;
        case IOMMU_INV_DOMAIN:
        case IOMMU_INV_PASID: /* an ASID per address space: the domain */
            w[0] = SMMU_TLBI_NH_ASID | ((uint64_t)v->domain << 48);
            return 0;
        case IOMMU_INV_RANGE:
            am = range_order(v->addr, v->len, &base);
            if (am > 31) {
                w[0] = SMMU_TLBI_NH_ASID | ((uint64_t)v->domain << 48);
                return 0;
            }
            w[0] = SMMU_TLBI_NH_VA | ((uint64_t)am << 20) |
                   ((uint64_t)v->domain << 48);
            w[1] = base | (v->leaf_only ? 1 : 0);
            return 0;
        case IOMMU_INV_S2_RANGE:
            am = range_order(v->addr, v->len, &base);
            if (am > 31) {
                w[0] = SMMU_TLBI_S12_VMALL | ((uint64_t)v->domain << 32);
                return 0;
            }
            w[0] = SMMU_TLBI_S2_IPA | ((uint64_t)am << 20) |
                   ((uint64_t)v->domain << 32);
            w[1] = base | (v->leaf_only ? 1 : 0);
            return 0;
        default:
            return -EINVAL;
        }
    case IOMMU_QI_PASID_CACHE:
        if (v->gran == IOMMU_INV_DEVICE_PASID)
            w[0] = SMMU_CFGI_CD | (1u << 11) | ((uint64_t)v->pasid << 12) |
                   ((uint64_t)v->rid << 32);
        else if (v->gran == IOMMU_INV_DEVICE)
            w[0] = SMMU_CFGI_CD_ALL | ((uint64_t)v->rid << 32);
        else
            w[0] = SMMU_CFGI_ALL, w[1] = 31;
        return 0;
    case IOMMU_QI_CONTEXT_CACHE:
        if (v->gran == IOMMU_INV_DEVICE)
            w[0] = SMMU_CFGI_STE | ((uint64_t)v->rid << 32);
        else
            w[0] = SMMU_CFGI_ALL, w[1] = 31;
        return 0;
    case IOMMU_QI_DEVTLB:
        am = v->len ? range_order(v->addr, v->len, &base) : 52;
        if (am >= 52)
            base = 0, am = 52;
        w[0] = SMMU_ATC_INV | (1u << 11) | ((uint64_t)v->pasid << 12) |
               ((uint64_t)v->rid << 32);
        w[1] = base | am;
        return 0;
    case IOMMU_QI_PAGE_RESP:
        w[0] = SMMU_PRI_RESP | (d->pasid_present ? 1u << 11 : 0) |
               ((uint64_t)d->pasid << 12) | ((uint64_t)d->rid << 32);
        w[1] = (d->prgi & 0x1ffu) | ((uint64_t)smmu_resp_code(d->code) << 12);
        return 0;
    case IOMMU_QI_RESUME:
        w[0] = SMMU_RESUME |
               ((uint64_t)(d->code == PCIE_PRG_SUCCESS ? 1 : 2) << 12) |
               ((uint64_t)d->rid << 32);
        w[1] = d->prgi;
        return 0;
    case IOMMU_QI_WAIT:
        w[0] = SMMU_SYNC | ((uint64_t)slot << 32);
        return 0;
    default:
        return -EINVAL;
    }
}

/* Decode a VT-d descriptor (four words). */
static void qi_decode_vtd(const uint64_t *w, iommu_invq_op_t *op)
{
    iommu_qi_desc_t *d = &op->d;
    iommu_inv_t *v = &d->inv;
    unsigned type = (unsigned)(w[0] & 0xf), gran = (unsigned)(w[0] >> 4) & 3;
    op->valid = true;
    switch (type) {
    case VTD_IOTLB:
        d->type = IOMMU_QI_IOTLB;
        v->domain = (uint16_t)(w[0] >> 16);
        v->gran = gran == 1   ? IOMMU_INV_GLOBAL
                  : gran == 2 ? IOMMU_INV_DOMAIN
                              : IOMMU_INV_S2_RANGE;
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + (w[1] & 0x3f));
        v->leaf_only = gran == 3 && ((w[1] >> 6) & 1);
        return;
    case VTD_PIOTLB:
        d->type = IOMMU_QI_IOTLB;
        v->domain = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        v->gran = gran == 3 ? IOMMU_INV_RANGE : IOMMU_INV_PASID;
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + (w[1] & 0x3f));
        v->leaf_only = gran == 3 && ((w[1] >> 6) & 1);
        return;
    case VTD_PC:
        d->type = IOMMU_QI_PASID_CACHE;
        v->domain = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        v->gran = gran == 0   ? IOMMU_INV_DOMAIN
                  : gran == 1 ? IOMMU_INV_PASID
                              : IOMMU_INV_GLOBAL;
        return;
    case VTD_CC:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->rid = (uint16_t)(w[0] >> 32);
        v->gran = gran == 3 ? IOMMU_INV_DEVICE : IOMMU_INV_GLOBAL;
        return;
    case VTD_PDEVTLB:
        d->type = IOMMU_QI_DEVTLB;
        v->rid = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        ats_decode(w[1], (w[1] >> 11) & 1, &v->addr, &v->len);
        return;
    case VTD_PGRP_RESP: {
        d->type = IOMMU_QI_PAGE_RESP;
        unsigned code = (unsigned)(w[0] >> 12) & 0xf;
        d->code = code == 0   ? PCIE_PRG_SUCCESS
                  : code == 1 ? PCIE_PRG_INVALID
                              : (uint8_t)code;
        d->pasid_present = (w[0] >> 4) & 1;
        d->rid = (uint16_t)(w[0] >> 16);
        d->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        d->prgi = (uint16_t)((w[1] >> 3) & 0x1ff);
        return;
    }
    case VTD_WAIT:
        d->type = IOMMU_QI_WAIT;
        op->fence = (w[0] >> 6) & 1; /* FN */
        d->fence = op->fence;
        d->drain = (w[0] >> 7) & 1; /* PD */
        return;
    default:
        op->valid = false;
        return;
    }
}

/* Decode an SMMUv3 command (two words). */
static void qi_decode_smmu(const uint64_t *w, iommu_invq_op_t *op)
{
    iommu_qi_desc_t *d = &op->d;
    iommu_inv_t *v = &d->inv;
    unsigned am = (unsigned)(w[0] >> 20) & 0x1f;
    op->valid = true;
    switch (w[0] & 0xff) {
    case SMMU_TLBI_NSNH_ALL:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_GLOBAL;
        return;
    case SMMU_TLBI_NH_ASID:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_DOMAIN;
        v->domain = (uint16_t)(w[0] >> 48);
        return;
    case SMMU_TLBI_S12_VMALL:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_DOMAIN;
        v->domain = (uint16_t)(w[0] >> 32);
        return;
    case SMMU_TLBI_NH_VA:
    case SMMU_TLBI_S2_IPA:
        d->type = IOMMU_QI_IOTLB;
        if ((w[0] & 0xff) == SMMU_TLBI_NH_VA) {
            v->gran = IOMMU_INV_RANGE;
            v->any_pasid = true;
            v->domain = (uint16_t)(w[0] >> 48);
        } else {
            v->gran = IOMMU_INV_S2_RANGE;
            v->domain = (uint16_t)(w[0] >> 32);
        }
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + am);
        v->leaf_only = w[1] & 1;
        return;
    case SMMU_CFGI_ALL:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->gran = IOMMU_INV_GLOBAL;
        op->cfgi_all = true;
        return;
    case SMMU_CFGI_STE:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->gran = IOMMU_INV_DEVICE;
        v->rid = (uint16_t)(w[0] >> 32);
        return;
    case SMMU_CFGI_CD:
    case SMMU_CFGI_CD_ALL:
        d->type = IOMMU_QI_PASID_CACHE;
        v->rid = (uint16_t)(w[0] >> 32);
        v->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        v->gran = (w[0] & 0xff) == SMMU_CFGI_CD ? IOMMU_INV_DEVICE_PASID
                                                : IOMMU_INV_DEVICE;
        return;
    case SMMU_ATC_INV: {
        d->type = IOMMU_QI_DEVTLB;
        v->rid = (uint16_t)(w[0] >> 32);
        v->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        unsigned size = (unsigned)(w[1] & 0x3f);
        v->addr = size >= 52 ? 0 : w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = size >= 52 ? 0 : 1ull << (IOMMU_PAGE_SHIFT + size);
        return;
    }
    case SMMU_PRI_RESP:
        d->type = IOMMU_QI_PAGE_RESP;
        d->pasid_present = (w[0] >> 11) & 1;
        d->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        d->rid = (uint16_t)(w[0] >> 32);
        d->prgi = (uint16_t)(w[1] & 0x1ff);
        d->code = smmu_resp_decode((unsigned)(w[1] >> 12) & 3);
        return;
    case SMMU_RESUME:
        d->type = IOMMU_QI_RESUME;
        d->rid = (uint16_t)(w[0] >> 32);
        d->code = ((w[0] >> 12) & 3) == 1 ? PCIE_PRG_SUCCESS : PCIE_PRG_INVALID;
        d->prgi = (uint16_t)w[1];
        return;
    case SMMU_SYNC:
        d->type = IOMMU_QI_WAIT;
        op->fence = true; /* SMMUv3 4.7.3 */
        return;
    default:
        op->valid = false;
        return;
    }
}

/* An AMD-Vi command of type t with its first quadword's low bits. */
static uint64_t amd_cmd(unsigned t, uint64_t low)
{
    return low | ((uint64_t)t << 60);
}

/* INVALIDATE_IOMMU_PAGES (Linux build_inv_iommu_pages): DomainID in the
 * second dword, the address with the S bit (build_inv_address: the PCIe
 * S-bit range encoding, all pages CMD_INV_IOMMU_ALL_PAGES_ADDRESS), PDE
 * unless leaf only, GN with the PASID in the first dword. */
static void amd_inv_pages(uint64_t *w, const iommu_inv_t *v, bool all, bool gn)
{
    bool s;
    uint64_t a = all ? (s = true, 0x7ffffffffffff000ull)
                     : ats_encode(v->addr, v->len, &s);
    w[0] = amd_cmd(AMD_INV_IOMMU_PAGES,
                   ((uint64_t)v->domain << 32) |
                       (gn ? (uint64_t)(v->pasid & 0xfffff) : 0));
    w[1] = a | (s ? AMD_S : 0) | (all || !v->leaf_only ? AMD_PDE : 0) |
           (gn ? AMD_GN : 0);
}

/* Encode d as an AMD-Vi command into w. Returns 0 or -EINVAL. */
static int qi_encode_amd(const iommu_qi_desc_t *d, uint32_t slot, uint64_t *w)
{
    const iommu_inv_t *v = &d->inv;
    switch (d->type) {
    case IOMMU_QI_IOTLB:
        switch (v->gran) {
        case IOMMU_INV_GLOBAL:
            w[0] = amd_cmd(AMD_INV_ALL, 0);
            return 0;
        case IOMMU_INV_DOMAIN:
            amd_inv_pages(w, v, true, false);
            return 0;
        case IOMMU_INV_PASID:
            amd_inv_pages(w, v, true, true);
            return 0;
        case IOMMU_INV_RANGE:
            /* no PASID: every PASID of the domain */
            amd_inv_pages(w, v, v->any_pasid, !v->any_pasid);
            return 0;
        case IOMMU_INV_S2_RANGE: /* GN = 0: the host (GPA) table's */
            amd_inv_pages(w, v, false, false);
            return 0;
        default:
            return -EINVAL;
        }
    case IOMMU_QI_PASID_CACHE:
    case IOMMU_QI_CONTEXT_CACHE:
        if (v->gran == IOMMU_INV_DEVICE || v->gran == IOMMU_INV_DEVICE_PASID)
            w[0] = amd_cmd(AMD_INV_DEV_ENTRY, v->rid);
        else
            w[0] = amd_cmd(AMD_INV_ALL, 0);
        return 0;
    case IOMMU_QI_DEVTLB: {
        /* build_inv_iotlb_pages: DevID in the first and second dwords,
         * PASID 15:8 in 23:16 of the first, 7:0 in 23:16 of the second. */
        bool s;
        uint64_t a = v->len ? ats_encode(v->addr, v->len, &s)
                            : (s = true, 0x7ffffffffffff000ull);
        w[0] = amd_cmd(
            AMD_INV_IOTLB_PAGES,
            (uint64_t)v->rid | ((uint64_t)((v->pasid >> 8) & 0xff) << 16) |
                ((uint64_t)v->rid << 32) | ((uint64_t)(v->pasid & 0xff) << 48));
        w[1] = a | (s ? AMD_S : 0) | AMD_GN;
        return 0;
    }
    case IOMMU_QI_PAGE_RESP:
        /* build_complete_ppr: DevID, PASID in the second dword, GN, the
         * tag (PRG index) and the status, which is the PCIe PRG Response
         * Code (Linux iommu_v2.c PPR_SUCCESS 0x0, PPR_INVALID 0x1,
         * PPR_FAILURE 0xf). */
        w[0] =
            amd_cmd(AMD_COMPLETE_PPR,
                    (uint64_t)d->rid | ((uint64_t)(d->pasid & 0xfffff) << 32));
        w[1] = (d->pasid_present ? AMD_GN : 0) |
               ((uint64_t)(d->prgi & 0x1ffu) << 32) |
               ((uint64_t)(d->code & 0xfu) << 44);
        return 0;
    case IOMMU_QI_WAIT:
        /* build_completion_wait: the store bit, the semaphore address
         * (here the slot) and data; f (flush queue, bit 2) only for a
         * fencing wait, which Linux never writes. */
        w[0] = amd_cmd(AMD_COMPL_WAIT,
                       1u | (d->fence ? 4u : 0) | ((uint64_t)slot << 3));
        w[1] = slot;
        return 0;
    default:
        return -EINVAL; /* RESUME: no stall model on AMD-Vi */
    }
}

/* Decode an AMD-Vi command (two quadwords). */
static void qi_decode_amd(const uint64_t *w, iommu_invq_op_t *op)
{
    iommu_qi_desc_t *d = &op->d;
    iommu_inv_t *v = &d->inv;
    op->valid = true;
    switch ((unsigned)(w[0] >> 60)) {
    case AMD_COMPL_WAIT:
        d->type = IOMMU_QI_WAIT;
        op->fence = (w[0] >> 2) & 1;
        d->fence = op->fence;
        return;
    case AMD_INV_DEV_ENTRY:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->gran = IOMMU_INV_DEVICE;
        v->rid = (uint16_t)w[0];
        op->cfgi_all = true; /* the DTE and its GCR3 table */
        return;
    case AMD_INV_IOMMU_PAGES: {
        bool gn = w[1] & AMD_GN;
        bool all = (w[1] & AMD_S) &&
                   (w[1] & 0x7ffffffffffff000ull) == 0x7ffffffffffff000ull;
        d->type = IOMMU_QI_IOTLB;
        v->domain = (uint16_t)(w[0] >> 32);
        v->pasid = (uint32_t)w[0] & (PCIE_PASID_MAX - 1);
        if (all) {
            v->gran = gn ? IOMMU_INV_PASID : IOMMU_INV_DOMAIN;
            return;
        }
        v->gran = gn ? IOMMU_INV_RANGE : IOMMU_INV_S2_RANGE;
        ats_decode(w[1], w[1] & AMD_S, &v->addr, &v->len);
        v->leaf_only = !(w[1] & AMD_PDE);
        return;
    }
    case AMD_INV_IOTLB_PAGES:
        d->type = IOMMU_QI_DEVTLB;
        v->rid = (uint16_t)w[0];
        v->pasid =
            (uint32_t)(((w[0] >> 16) & 0xff) << 8 | ((w[0] >> 48) & 0xff));
        ats_decode(w[1], w[1] & AMD_S, &v->addr, &v->len);
        return;
    case AMD_COMPLETE_PPR:
        d->type = IOMMU_QI_PAGE_RESP;
        d->rid = (uint16_t)w[0];
        d->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        d->pasid_present = w[1] & AMD_GN;
        d->prgi = (uint16_t)((w[1] >> 32) & 0x1ff);
        d->code = (uint8_t)((w[1] >> 44) & 0xf);
        return;
    case AMD_INV_ALL:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_GLOBAL;
        op->inv_all = true;
        return;
    default:
        op->valid = false;
        return;
    }
}

/* Decode the descriptor at pos. */
static void qi_decode(const iommu_invq_t *q, uint32_t pos, iommu_invq_op_t *op)
{
    uint64_t a = iring_addr(&q->ring, pos), w[4];
    for (unsigned i = 0; i < q->ring.esize / 8; i++)
        w[i] = iommu_mem_read64(q->mem, a + i * 8);
    memset(op, 0, sizeof(*op));
    if (q->amd)
        qi_decode_amd(w, op);
    else if (q->smmu)
        qi_decode_smmu(w, op);
    else
        qi_decode_vtd(w, op);
    const iommu_invq_side_t *side = &q->side[pos % q->ring.depth];
    op->d.done = side->done;
    op->d.opaque = side->opaque;
    op->d.span = side->span;
}

/* Write d at the tail (the ring has room). */
static void qi_put(iommu_invq_t *q, const iommu_qi_desc_t *d)
{
    uint32_t slot = q->ring.tail % q->ring.depth;
    uint64_t w[4] = {0, 0, 0, 0};
    if (q->amd)
        qi_encode_amd(d, slot, w);
    else if (q->smmu)
        qi_encode_smmu(d, slot, w);
    else
        qi_encode_vtd(d, slot, w);
    uint64_t a = iring_addr(&q->ring, q->ring.tail);
    for (unsigned i = 0; i < q->ring.esize / 8; i++)
        iommu_mem_write64(q->mem, a + i * 8, w[i]);
    q->side[slot] = (iommu_invq_side_t){d->done, d->opaque, d->span};
    q->ring.tail = iring_next(&q->ring, q->ring.tail);
}

/* Processing cost of a descriptor type. */
static sim_time_t qi_cost(const iommu_invq_t *q, iommu_qi_type_t t)
{
    const iommu_cfg_t *c = q->cfg;
    switch (t) {
    case IOMMU_QI_IOTLB:
        return c->qi_iotlb;
    case IOMMU_QI_PASID_CACHE:
        return c->qi_pasid;
    case IOMMU_QI_CONTEXT_CACHE:
        return c->qi_context;
    case IOMMU_QI_DEVTLB:
        return c->qi_devtlb;
    case IOMMU_QI_PAGE_RESP:
    case IOMMU_QI_RESUME:
        return c->qi_page_resp;
    default:
        return c->qi_wait;
    }
}

static void qi_kick(iommu_invq_t *q);

/* The descriptor at the head is consumed: move the head, let descriptors
 * waiting for space move in. */
static void qi_advance(iommu_invq_t *q)
{
    q->ring.head = iring_next(&q->ring, q->ring.head);
    while (q->bl_head && !iring_full(&q->ring)) {
        iommu_invq_backlog_t *b = q->bl_head;
        q->bl_head = b->next;
        if (!q->bl_head)
            q->bl_tail = NULL;
        qi_put(q, &b->d);
        sim_pool_put(&q->bl_pool, b);
    }
    sim_gauge_set(q->s.occupancy, sim_now(q->sim), iring_count(&q->ring));
}

/* A parked wait's status write is done (qi_wait after its segment's last
 * device-TLB completion). */
static void ev_parked_done(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_invq_t *q = opaque;
    iommu_invq_parked_t *p = sim_arg_ptr(arg);
    iommu_done_fn done = p->done;
    void *d_opaque = p->opaque;
    sim_pool_put(&q->park_pool, p);
    q->pending--;
    if (done)
        done(d_opaque);
}

/* Park the wait at the head: it closes the open segment, which still has
 * device-TLB invalidations in flight, and leaves the ring. Returns false
 * when out of memory. */
static bool qi_park(iommu_invq_t *q, const iommu_qi_desc_t *d)
{
    iommu_invq_parked_t *p = sim_pool_get(&q->park_pool);
    if (!p)
        return false;
    *p = (iommu_invq_parked_t){NULL, d->done, d->opaque, q->seg_devtlb, q->seg};
    iommu_invq_parked_t **pp = &q->parked;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    q->s.desc[IOMMU_QI_WAIT]->value++;
    q->seg++;
    q->seg_devtlb = 0;
    qi_advance(q);
    return true;
}

/* Apply the descriptor at the head and move on. */
static void ev_qi_done(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_invq_t *q = opaque;
    iommu_invq_op_t op = q->cur; /* decoded when it started */
    const iommu_qi_desc_t *d = &op.d;
    bool done = true;
    if (!op.valid) {
        q->s.errors->value++;
    } else {
        q->s.desc[d->type]->value++;
        switch (d->type) {
        case IOMMU_QI_IOTLB:
            q->ops.iotlb(q->ops.opaque, &d->inv);
            if (op.inv_all) {
                q->ops.context_cache(q->ops.opaque, &d->inv);
                q->ops.pasid_cache(q->ops.opaque, &d->inv);
            }
            break;
        case IOMMU_QI_PASID_CACHE:
            q->ops.pasid_cache(q->ops.opaque, &d->inv);
            break;
        case IOMMU_QI_CONTEXT_CACHE:
            q->ops.context_cache(q->ops.opaque, &d->inv);
            if (op.cfgi_all)
                q->ops.pasid_cache(q->ops.opaque, &d->inv);
            break;
        case IOMMU_QI_DEVTLB: {
            pcie_msg_t m = {0};
            m.type = PCIE_MSG_INV_REQ;
            m.flags = PCIE_F_PASID;
            m.pasid = d->inv.pasid;
            m.addr = d->inv.addr;
            m.len = d->inv.len > UINT32_MAX ? 0 : (uint32_t)d->inv.len;
            m.cookie = q;
            m.tag = q->seg; /* the ITAG: its wait segment */
            q->devtlb_pending++;
            q->seg_devtlb++;
            q->s.devtlb_inval->value++;
            done = false; /* done when the completion arrives */
            iommu_port_send(q->down, d->inv.rid, &m);
            break;
        }
        case IOMMU_QI_PAGE_RESP: {
            pcie_msg_t r = {0};
            r.type = PCIE_MSG_PRG_RESP;
            r.code = d->code;
            r.tag = d->prgi;
            r.pasid = d->pasid;
            r.flags = d->pasid_present ? PCIE_F_PASID : 0;
            r.span = d->span;
            q->s.host_responses->value++;
            iommu_port_send(q->down, d->rid, &r);
            break;
        }
        case IOMMU_QI_RESUME:
            /* a resume of no stalled transaction is an error */
            if (!iommu_stall_resume(q->stall, d->prgi,
                                    d->code == PCIE_PRG_SUCCESS))
                q->s.errors->value++;
            break;
        default: /* wait: its segment is complete; a new one opens */
            q->seg++;
            break;
        }
    }
    q->busy = false;
    if (done)
        q->pending--;
    qi_advance(q);
    if (op.valid && d->type == IOMMU_QI_WAIT)
        q->drain_armed = false;
    if (op.valid && d->type == IOMMU_QI_WAIT && d->done)
        d->done(d->opaque);
    qi_kick(q);
}

/* Start the descriptor at the head if the queue is idle. A wait whose
 * segment is complete is processed like any descriptor (qi_wait, then
 * done); one that fences waits at the head until every device-TLB
 * invalidation is complete; one that does not (VT-d FN = 0) is parked
 * and the queue goes on. */
static void qi_kick(iommu_invq_t *q)
{
    while (!q->busy && !q->waiting && q->ring.head != q->ring.tail) {
        iommu_invq_op_t *op = &q->cur;
        qi_decode(q, q->ring.head, op);
        if (op->valid && op->d.type == IOMMU_QI_WAIT && op->d.drain &&
            q->ops.prq_accepted) {
            /* VT-d 7.10 / 6.5.2.8 (PD): page requests received before the
             * wait are in the PRQ before it completes. */
            if (!q->drain_armed) {
                q->drain_mark = q->ops.prq_accepted(q->ops.opaque);
                q->drain_armed = true;
            }
            if (q->ops.prq_written(q->ops.opaque) < q->drain_mark) {
                q->draining = true;
                return;
            }
        }
        if (op->valid && op->d.type == IOMMU_QI_WAIT) {
            if (op->fence && q->devtlb_pending) {
                q->waiting = true; /* fence: wait for the completions */
                return;
            }
            if (!op->fence && q->seg_devtlb) {
                if (!qi_park(q, &op->d)) {
                    sim_oom(q->sim, "iommu.qi");
                    return;
                }
                continue;
            }
        }
        q->busy = true;
        sim_schedule(q->sim, op->valid ? qi_cost(q, op->d.type) : 0, ev_qi_done,
                     q, 0);
    }
}

void iommu_invq_devtlb_done(iommu_invq_t *q, uint16_t itag)
{
    if (!q->devtlb_pending)
        return;
    q->devtlb_pending--;
    q->pending--;
    if (itag == q->seg && q->seg_devtlb) {
        q->seg_devtlb--;
    } else {
        /* A closed segment: its parked wait completes with its last
         * completion, after the status write. */
        for (iommu_invq_parked_t **pp = &q->parked; *pp; pp = &(*pp)->next) {
            iommu_invq_parked_t *p = *pp;
            if (p->seg != itag)
                continue;
            if (--p->remaining == 0) {
                *pp = p->next;
                sim_schedule(q->sim, q->cfg->qi_wait, ev_parked_done, q,
                             sim_ptr_arg(p));
            }
            break;
        }
    }
    if (q->waiting && !q->devtlb_pending) {
        q->waiting = false;
        qi_kick(q);
    }
}

int iommu_invq_submit(iommu_invq_t *q, const iommu_qi_desc_t *descs, unsigned n)
{
    uint64_t w[4];
    for (unsigned i = 0; i < n; i++) {
        int rc = q->amd    ? qi_encode_amd(&descs[i], 0, w)
                 : q->smmu ? qi_encode_smmu(&descs[i], 0, w)
                           : qi_encode_vtd(&descs[i], 0, w);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < n; i++) {
        q->pending++;
        if (!q->bl_head && !iring_full(&q->ring)) {
            qi_put(q, &descs[i]);
            continue;
        }
        iommu_invq_backlog_t *b = sim_pool_get(&q->bl_pool);
        if (!b)
            return -ENOMEM;
        b->d = descs[i];
        b->next = NULL;
        if (q->bl_tail)
            q->bl_tail->next = b;
        else
            q->bl_head = b;
        q->bl_tail = b;
        q->s.full_waits->value++;
    }
    sim_gauge_set(q->s.occupancy, sim_now(q->sim), iring_count(&q->ring));
    qi_kick(q);
    return 0;
}

void iommu_invq_prq_written(iommu_invq_t *q)
{
    if (q->draining) {
        q->draining = false;
        qi_kick(q);
    }
}
