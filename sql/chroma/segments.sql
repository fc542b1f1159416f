SELECT * FROM segments WHERE collection = ? ORDER BY scope, id
