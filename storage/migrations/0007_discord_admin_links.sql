-- Issue 13: a link an admin confirmed alone (via = 'admin') is no longer in force: an admin could
-- link any Discord account to anyone and then act, and approve, as them. Such links stay in
-- discord_links until an admin removes them (an audited identity.unlinked) and the person links
-- again; but DMs stop going to those accounts now. chat_people keeps where each person is
-- reached, and an account that acted under such a link became the person's Discord address: it
-- is forgotten here, so nothing meant for the person (a grant's secret above all) reaches an
-- account they never confirmed. Common SQL of SQLite and PostgreSQL.
DELETE FROM chat_people WHERE platform = 'discord' AND EXISTS (
    SELECT 1 FROM discord_links l
    WHERE l.person_id = chat_people.person_id AND l.user_id = chat_people.platform_id AND l.via = 'admin'
);
