#include "iommu/walk.h"
#include "iommu/cache.h"
