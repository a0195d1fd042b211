#include "tools/platform/platform.h"
#include "iommu/walk.h"
#include "sim/log.c"
