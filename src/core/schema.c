#include "kratixfs/schema.h"
