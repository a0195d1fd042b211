#include "ioasid/ioasid.h"
#include "traces/trace.h"
