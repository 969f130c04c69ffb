"""The search documents of speakers, sources and claims (a statement's are in ``statements.py``).

Each is an SQL expression of the record's own columns and of what it shows of one other
record (a source's outlet's name, a claim's statement's text), written once here: the
tables' triggers build it for the row being written (``triggers.py``), the bulk builds for
every row (``build_documents``) and the data package import for the rows it inserts.
"""


def speaker_names(name: str, aliases: str) -> str:
    """SQL: a speaker's names and aliases, normalised for trigram lookup."""
    return f"claims_normalize({name} || ' ' || array_to_string({aliases}, ' '))"


def source_vector(title: str, url: str, description: str, outlet_name: str) -> str:
    """SQL: a source's search document from these SQL values: title, URL split into words
    (so that "duvarenglish" finds duvarenglish.com), description, its outlet's name."""
    return f"""setweight(to_tsvector('claims_english', coalesce({title}, '')), 'A')
            || setweight(to_tsvector('claims_simple', regexp_replace(coalesce({url}, ''), '[^[:alnum:]]+', ' ', 'g')), 'B')
            || setweight(to_tsvector('claims_english', coalesce({description}, '')), 'C')
            || setweight(to_tsvector('claims_simple', coalesce({outlet_name}, '')), 'D')"""


def claim_vector(text: str, statement_text: str) -> str:
    """SQL: a claim's search document: A, its own text; B, its statement's."""
    return f"""setweight(to_tsvector('claims_english', coalesce({text}, '')), 'A')
                || setweight(to_tsvector('claims_english', coalesce({statement_text}, '')), 'B')"""


def claim_key(text: str) -> str:
    """SQL: a claim's text normalised for trigram matching (similar claims)."""
    return f"claims_normalize({text})"


# Set-based, for the rows of each table that ``{where}`` selects (SQL on the row ``r``).
SPEAKERS_SQL = (
    f"UPDATE claims_speaker r SET search_names = {speaker_names('r.name', 'r.aliases')} WHERE {{where}}"
)
SOURCES_SQL = f"""
    UPDATE claims_source r SET search_vector = {source_vector("r.title", "r.url", "r.description", "o.name")}
    FROM claims_source r2 LEFT JOIN claims_outlet o ON o.id = r2.outlet_id
    WHERE r2.id = r.id AND {{where}}"""
CLAIMS_SQL = f"""
    UPDATE claims_claim r SET search_vector = {claim_vector("r.text", "st.text")}, normalized_text = {claim_key("r.text")}
    FROM claims_claim r2 LEFT JOIN claims_statement st ON st.id = r2.statement_id
    WHERE r2.id = r.id AND {{where}}"""
