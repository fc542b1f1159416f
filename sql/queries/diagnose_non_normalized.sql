-- doctor: rows whose embedding's L2 norm differs from 1 by more than $1 (the models this tool
-- runs normalize; a table mixing unit and non-unit vectors ranks them inconsistently under
-- cosine vs L2). Zero vectors are left out: diagnose_zero_vectors.sql reports them, and so are
-- application rows (source_index NULL): the original app stores its query-space vectors as they
-- come (x[:2000], not re-normalized), which cosine search does not mind.
-- $1: tolerance (float8), $2: how many example ids to return, smallest ids first.
-- Placeholders: {{table}}, {{norm}} (vector_norm for vector, l2_norm for halfvec).
SELECT (SELECT count(*)::int FROM {{table}}
        WHERE source_index IS NOT NULL AND {{norm}}(embedding) <> 0 AND abs({{norm}}(embedding) - 1) > $1::float8) AS rows,
       ARRAY(SELECT id::text FROM {{table}}
             WHERE source_index IS NOT NULL AND {{norm}}(embedding) <> 0 AND abs({{norm}}(embedding) - 1) > $1::float8
             ORDER BY id LIMIT $2) AS examples;
