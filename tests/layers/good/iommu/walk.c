#include "iommu/walk.h"
#include "iommu/iommu_int.h"
