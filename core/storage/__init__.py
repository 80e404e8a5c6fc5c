"""MongoDB: the embedded mongod and the Store's collections."""
