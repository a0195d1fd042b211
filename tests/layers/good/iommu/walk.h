#include "iommu/iommu_int.h"
